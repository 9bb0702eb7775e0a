//! Frame-rate independent exponential smoothing of class probabilities.
//!
//! A per-frame EMA with a fixed weight behaves differently at 10 and 30 fps. Here the weight
//! of a new sample depends on the time since the previous one, `alpha = 1 - exp(-dt / tau)`,
//! so the smoothed value follows the same curve whatever the frame rate. Frames without a
//! face are not samples: the state is held, never fed zeros, and the next face frame gets
//! the weight its time gap earns (after a long absence the old evidence has decayed away).

use crate::NUM_CLASSES;
use crate::wire::EmotionScores;

/// EMA over [`EmotionScores`] with a time constant in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Smoother {
    tau_ms: u32,
    state: Option<(u64, [f32; NUM_CLASSES])>,
}

impl Smoother {
    /// A smoother with time constant `tau_ms` (0: no smoothing, the latest sample wins).
    pub fn new(tau_ms: u32) -> Self {
        Smoother { tau_ms, state: None }
    }

    /// Feeds one sample taken at `t_ms`; returns the smoothed scores.
    ///
    /// Samples with a value that is not a probability (NaN, infinite, outside 0..=1) are
    /// ignored (the state is kept): one such value would stay in the state for ever. A
    /// timestamp earlier than the previous one counts as no time passing.
    pub fn update(&mut self, t_ms: u64, sample: &EmotionScores) -> Option<EmotionScores> {
        if !sample.are_probabilities() {
            return self.current();
        }
        let next = match self.state {
            None => sample.0,
            Some((last, mut s)) => {
                let dt = t_ms.saturating_sub(last) as f32;
                let alpha = if self.tau_ms == 0 {
                    1.0
                } else {
                    1.0 - libm::expf(-dt / self.tau_ms as f32)
                };
                for (s, &x) in s.iter_mut().zip(sample.0.iter()) {
                    *s += alpha * (x - *s);
                }
                s
            }
        };
        let t = self.state.map_or(t_ms, |(last, _)| t_ms.max(last));
        self.state = Some((t, next));
        self.current()
    }

    /// The smoothed scores, if any sample has been seen.
    pub fn current(&self) -> Option<EmotionScores> {
        self.state.map(|(_, s)| EmotionScores(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_hot(i: usize) -> EmotionScores {
        let mut s = [0.0; NUM_CLASSES];
        s[i] = 1.0;
        EmotionScores(s)
    }

    #[test]
    fn first_sample_initialises() {
        let mut s = Smoother::new(500);
        assert_eq!(s.current(), None);
        assert_eq!(s.update(7, &one_hot(2)), Some(one_hot(2)));
    }

    #[test]
    fn one_time_constant_moves_63_percent_at_any_frame_rate() {
        for fps in [5u64, 10, 30, 60, 100] {
            let mut s = Smoother::new(500);
            s.update(0, &one_hot(4));
            let step = 1000 / fps;
            let mut t = 0;
            while t < 500 {
                t += step;
                s.update(t, &one_hot(0));
            }
            // Land exactly on 500 ms whatever the step.
            let mut exact = Smoother::new(500);
            exact.update(0, &one_hot(4));
            let v = exact.update(500, &one_hot(0)).unwrap().0[0];
            assert!((v - (1.0 - libm::expf(-1.0))).abs() < 1e-5, "{v}");
            let got = s.current().unwrap().0[0];
            let expect = 1.0 - libm::expf(-(t as f32) / 500.0);
            assert!((got - expect).abs() < 1e-3, "fps {fps}: {got} vs {expect}");
        }
    }

    #[test]
    fn samples_that_are_not_probabilities_are_ignored_and_time_never_runs_backwards() {
        let mut s = Smoother::new(100);
        s.update(1000, &one_hot(1));
        let mut bad = one_hot(0);
        bad.0[3] = f32::NAN;
        assert_eq!(s.update(1100, &bad), Some(one_hot(1)));
        // Finite but not probabilities: two such samples would drive the state to -inf, then NaN.
        for extreme in [f32::MAX, -f32::MAX, 1.5, -0.1] {
            let mut bad = one_hot(0);
            bad.0[2] = extreme;
            assert_eq!(s.update(1200, &bad), Some(one_hot(1)), "{extreme}");
        }
        // An earlier timestamp: dt = 0, nothing moves.
        assert_eq!(s.update(900, &one_hot(0)), Some(one_hot(1)));
    }

    #[test]
    fn zero_tau_follows_the_latest_sample() {
        let mut s = Smoother::new(0);
        s.update(0, &one_hot(1));
        assert_eq!(s.update(1, &one_hot(5)), Some(one_hot(5)));
    }
}
