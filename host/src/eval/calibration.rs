//! Score calibration: temperature scaling and expected calibration error.
//!
//! Why: the alert policy thresholds probabilities (anger raises at 0.6), so a score of 0.6
//! must mean "right about 60% of the time". A network trained with cross-entropy is usually
//! over-confident; dividing its logits by one temperature `T`, fitted on validation data by
//! minimising the negative log-likelihood (Guo et al., 2017), fixes most of that without
//! changing any prediction. `host export` fits `T` on the validation split, stores it in the
//! manifest, and the edge applies it before the softmax.

use shared::NUM_CLASSES;

/// Smallest and largest temperature searched.
pub const TEMPERATURE_RANGE: (f64, f64) = (0.05, 20.0);

/// Bins of the expected calibration error (the usual 15).
pub const ECE_BINS: usize = 15;

/// Mean negative log-likelihood of the labels under `softmax(logits / t)`.
pub fn nll(logits: &[[f32; NUM_CLASSES]], labels: &[usize], t: f64) -> f64 {
    let mut total = 0.0;
    for (z, &y) in logits.iter().zip(labels) {
        let scaled: Vec<f64> = z.iter().map(|&v| f64::from(v) / t).collect();
        let max = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let log_sum = scaled.iter().map(|v| (v - max).exp()).sum::<f64>().ln() + max;
        total += log_sum - scaled[y.min(NUM_CLASSES - 1)];
    }
    total / logits.len().max(1) as f64
}

/// The temperature that minimises [`nll`] (golden-section search on `ln t`, which is
/// unimodal for this problem), within [`TEMPERATURE_RANGE`]. 1 for no data.
pub fn fit_temperature(logits: &[[f32; NUM_CLASSES]], labels: &[usize]) -> f32 {
    if logits.is_empty() || logits.len() != labels.len() {
        return 1.0;
    }
    let f = |log_t: f64| nll(logits, labels, log_t.exp());
    let (mut a, mut b) = (TEMPERATURE_RANGE.0.ln(), TEMPERATURE_RANGE.1.ln());
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - phi * (b - a);
    let mut d = a + phi * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..80 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - phi * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + phi * (b - a);
            fd = f(d);
        }
    }
    ((a + b) / 2.0).exp() as f32
}

/// One confidence bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bin {
    /// Lower edge of the bin's confidence range.
    pub lower: f64,
    /// Upper edge.
    pub upper: f64,
    /// Images whose top score falls in the bin.
    pub count: usize,
    /// Their mean top score.
    pub confidence: f64,
    /// The fraction of them classified correctly.
    pub accuracy: f64,
}

/// Reliability bins of top-1 confidence (equal width over 0..1, the top edge inclusive).
pub fn reliability(probs: &[[f32; NUM_CLASSES]], labels: &[usize], bins: usize) -> Vec<Bin> {
    let bins = bins.max(1);
    let mut sums = vec![(0usize, 0.0f64, 0usize); bins];
    for (p, &y) in probs.iter().zip(labels) {
        let (top, conf) = p.iter().enumerate().fold(
            (0, f32::NEG_INFINITY),
            |best, (i, &v)| if v > best.1 { (i, v) } else { best },
        );
        let conf = f64::from(conf).clamp(0.0, 1.0);
        let b = ((conf * bins as f64) as usize).min(bins - 1);
        sums[b].0 += 1;
        sums[b].1 += conf;
        sums[b].2 += usize::from(top == y);
    }
    sums.iter()
        .enumerate()
        .map(|(i, &(n, conf, ok))| Bin {
            lower: i as f64 / bins as f64,
            upper: (i + 1) as f64 / bins as f64,
            count: n,
            confidence: if n > 0 { conf / n as f64 } else { 0.0 },
            accuracy: if n > 0 { ok as f64 / n as f64 } else { 0.0 },
        })
        .collect()
}

/// Expected calibration error: the count-weighted mean of |accuracy - confidence| over the
/// bins of [`reliability`].
pub fn ece(probs: &[[f32; NUM_CLASSES]], labels: &[usize], bins: usize) -> f64 {
    let total = probs.len().min(labels.len());
    if total == 0 {
        return 0.0;
    }
    reliability(probs, labels, bins)
        .iter()
        .map(|b| b.count as f64 * (b.accuracy - b.confidence).abs())
        .sum::<f64>()
        / total as f64
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use shared::labels::softmax_at;

    use super::*;

    /// Logits of a classifier that is right 70% of the time but puts `sharpness` on its pick.
    fn overconfident(n: usize, sharpness: f32, seed: u64) -> (Vec<[f32; NUM_CLASSES]>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut logits = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..n {
            let y = rng.random_range(0..NUM_CLASSES);
            let pick = if rng.random_bool(0.7) {
                y
            } else {
                (y + rng.random_range(1..NUM_CLASSES)) % NUM_CLASSES
            };
            let mut z = [0.0f32; NUM_CLASSES];
            for v in &mut z {
                *v = rng.random_range(-0.5..0.5);
            }
            z[pick] += sharpness;
            logits.push(z);
            labels.push(y);
        }
        (logits, labels)
    }

    #[test]
    fn temperature_tames_an_overconfident_classifier() {
        let (logits, labels) = overconfident(4000, 12.0, 1);
        let before: Vec<_> = logits.iter().map(|z| softmax_at(z, 1.0)).collect();
        let t = fit_temperature(&logits, &labels);
        assert!(t > 2.0, "an over-confident model needs t > 1, got {t}");
        let after: Vec<_> = logits.iter().map(|z| softmax_at(z, t)).collect();
        let (e0, e1) = (ece(&before, &labels, ECE_BINS), ece(&after, &labels, ECE_BINS));
        assert!(e0 > 0.25 && e1 < 0.03, "ECE {e0} -> {e1}");
        assert!(nll(&logits, &labels, f64::from(t)) < nll(&logits, &labels, 1.0));
        // Temperature never changes the prediction.
        for (a, b) in before.iter().zip(&after) {
            let top = |p: &[f32; NUM_CLASSES]| p.iter().enumerate().max_by(|x, y| x.1.total_cmp(y.1)).unwrap().0;
            assert_eq!(top(a), top(b));
        }
    }

    #[test]
    fn reliability_bins_count_every_image_once() {
        let probs = [
            [1.0, 0., 0., 0., 0., 0., 0.],
            [0.5, 0.5, 0., 0., 0., 0., 0.],
            [0.2, 0.1, 0.1, 0.1, 0.3, 0.1, 0.1],
        ];
        let bins = reliability(&probs, &[0, 1, 4], 10);
        assert_eq!(bins.iter().map(|b| b.count).sum::<usize>(), 3);
        assert_eq!(bins[9].count, 1);
        assert_eq!(bins[9].accuracy, 1.0);
        // A tie goes to the first class: image 2 is wrong.
        assert_eq!((bins[5].count, bins[5].accuracy), (1, 0.0));
        assert!((ece(&probs, &[0, 1, 4], 10) - (0.5 + 0.7) / 3.0).abs() < 1e-6);
        assert_eq!(fit_temperature(&[], &[]), 1.0);
    }
}
