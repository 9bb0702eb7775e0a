//! Learning-rate schedules, as pure functions of the epoch history.
//!
//! Why pure: the rate for the next epoch depends only on the base rate, the rate used so far
//! and the validation losses seen, all of which a checkpoint records, so a resumed run picks
//! up exactly the rate an uninterrupted one would have used, and the logic is unit-tested
//! without training anything.
//!
//! The paper's rule (section 4.3, Table 2) as read here ([`ScheduleKind::LossDecay`]): after
//! every `every`-th epoch (5), compare the validation loss with the one `every` epochs earlier
//! (with the first epoch's at the first check); if it went up, the rate becomes `factor` (5%)
//! of itself. Once it falls below `floor` it is 0: decay stops there and training ends, since
//! further epochs cannot change the weights.

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which schedule to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
pub enum ScheduleKind {
    /// The paper's: every 5 epochs, if validation loss rose, lr *= 0.05; stop at 0.
    #[default]
    #[value(name = "loss-decay")]
    LossDecay,
    /// Cosine annealing from the base rate to 0 over all epochs (per epoch).
    #[value(name = "cosine")]
    Cosine,
    /// The base rate throughout.
    #[value(name = "fixed")]
    Fixed,
    /// Reduce on plateau: when the validation loss has not improved on its best for
    /// [`PLATEAU_PATIENCE`] epochs, the rate becomes [`PLATEAU_FACTOR`] of itself; 0 below the
    /// floor, as with loss decay.
    #[value(name = "plateau")]
    Plateau,
}

/// Epochs without a new best validation loss before [`ScheduleKind::Plateau`] cuts the rate.
pub const PLATEAU_PATIENCE: usize = 3;
/// What [`ScheduleKind::Plateau`] multiplies the rate by.
pub const PLATEAU_FACTOR: f64 = 0.2;

impl ScheduleKind {
    /// Stable machine name.
    pub const fn name(self) -> &'static str {
        match self {
            ScheduleKind::LossDecay => "loss-decay",
            ScheduleKind::Cosine => "cosine",
            ScheduleKind::Fixed => "fixed",
            ScheduleKind::Plateau => "plateau",
        }
    }
}

impl fmt::Display for ScheduleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ScheduleKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "loss-decay" | "paper" => Ok(ScheduleKind::LossDecay),
            "cosine" => Ok(ScheduleKind::Cosine),
            "fixed" => Ok(ScheduleKind::Fixed),
            "plateau" => Ok(ScheduleKind::Plateau),
            other => Err(format!(
                "unknown schedule {other:?} (expected loss-decay, cosine, fixed or plateau)"
            )),
        }
    }
}

/// A schedule with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Which rule.
    pub kind: ScheduleKind,
    /// Base (initial) learning rate.
    pub base_lr: f64,
    /// Total epochs (for cosine).
    pub epochs: usize,
    /// Loss decay: check every this many epochs.
    pub every: usize,
    /// Loss decay: multiply by this when the loss rose.
    pub factor: f64,
    /// Loss decay: a rate below this is 0.
    pub floor: f64,
    /// Epochs of linear warm-up (epoch `e <= warmup` trains at `base * e / (warmup + 1)`);
    /// the schedule proper starts after them, with its own epoch count.
    #[serde(default)]
    pub warmup: usize,
}

impl Schedule {
    /// The paper's parameters for `kind`: checks every 5 epochs, factor 0.05, floor 1e-9.
    pub fn new(kind: ScheduleKind, base_lr: f64, epochs: usize) -> Self {
        Schedule {
            kind,
            base_lr,
            epochs,
            every: 5,
            factor: 0.05,
            floor: 1e-9,
            warmup: 0,
        }
    }

    /// The same schedule after `epochs` of linear warm-up.
    pub fn with_warmup(self, epochs: usize) -> Self {
        Schedule { warmup: epochs, ..self }
    }

    /// The rate of the first epoch.
    pub fn initial(&self) -> f64 {
        if self.warmup > 0 {
            self.base_lr / (self.warmup + 1) as f64
        } else {
            self.base_lr
        }
    }

    /// The rate for epoch `done + 1` (1-based), after `done` epochs trained at `current` and
    /// with `val_losses[i]` the validation loss after epoch `i + 1`.
    pub fn next(&self, current: f64, done: usize, val_losses: &[f64]) -> f64 {
        if done < self.warmup {
            return self.base_lr * (done + 1) as f64 / (self.warmup + 1) as f64;
        }
        let done = done - self.warmup;
        let val_losses = &val_losses[self.warmup.min(val_losses.len())..];
        if done == 0 {
            return self.base_lr;
        }
        match self.kind {
            ScheduleKind::Fixed => self.base_lr,
            ScheduleKind::Plateau => {
                // Replays the history: a new best resets the count of bad epochs, and the
                // rate is cut (and the count reset) after every PLATEAU_PATIENCE bad epochs.
                let mut best = f64::INFINITY;
                let (mut bad, mut cuts) = (0usize, 0i32);
                for &loss in val_losses.iter().take(done) {
                    if loss < best {
                        best = loss;
                        bad = 0;
                    } else {
                        bad += 1;
                        if bad == PLATEAU_PATIENCE {
                            cuts += 1;
                            bad = 0;
                        }
                    }
                }
                let rate = self.base_lr * PLATEAU_FACTOR.powi(cuts);
                if rate < self.floor { 0.0 } else { rate }
            }
            ScheduleKind::Cosine => {
                let total = self.epochs.saturating_sub(self.warmup).max(1) as f64;
                let t = (done as f64 / total).min(1.0);
                0.5 * self.base_lr * (1.0 + (PI * t).cos())
            }
            ScheduleKind::LossDecay => {
                if current == 0.0 || self.every == 0 || done == 0 || !done.is_multiple_of(self.every) {
                    return current;
                }
                let Some(&now) = val_losses.get(done - 1) else {
                    return current;
                };
                let before_index = done.saturating_sub(self.every + 1);
                let before = val_losses.get(before_index).copied().unwrap_or(now);
                if now > before {
                    let decayed = current * self.factor;
                    if decayed < self.floor { 0.0 } else { decayed }
                } else {
                    current
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper() -> Schedule {
        Schedule::new(ScheduleKind::LossDecay, 1e-3, 30)
    }

    #[test]
    fn loss_decay_only_checks_every_fifth_epoch() {
        let s = paper();
        // Loss rising every epoch: only epochs 5, 10, ... decay.
        let losses: Vec<f64> = (0..30).map(|i| i as f64).collect();
        let mut lr = s.initial();
        let mut changes = Vec::new();
        for done in 1..=12 {
            let next = s.next(lr, done, &losses[..done]);
            if next != lr {
                changes.push(done);
            }
            lr = next;
        }
        assert_eq!(changes, [5, 10]);
        assert!((lr - 1e-3 * 0.05 * 0.05).abs() < 1e-15, "{lr}");
    }

    #[test]
    fn loss_decay_keeps_the_rate_when_the_loss_fell() {
        let s = paper();
        let falling: Vec<f64> = (0..10).map(|i| 10.0 - i as f64).collect();
        assert_eq!(s.next(1e-3, 5, &falling[..5]), 1e-3);
        // Compared with five epochs earlier, not the previous epoch: a blip at epoch 9 that is
        // still below epoch 5 does not decay.
        let blip = [5.0, 4.0, 3.0, 2.5, 2.0, 1.9, 1.8, 1.0, 1.5, 1.95];
        assert_eq!(s.next(1e-3, 10, &blip), 1e-3);
        let rose = [5.0, 4.0, 3.0, 2.5, 2.0, 1.9, 1.8, 1.0, 1.5, 2.1];
        assert!((s.next(1e-3, 10, &rose) - 5e-5).abs() < 1e-15);
    }

    #[test]
    fn loss_decay_first_check_compares_with_the_first_epoch() {
        let s = paper();
        assert!(s.next(1e-3, 5, &[1.0, 0.5, 0.5, 0.5, 1.1]) < 1e-3);
        assert_eq!(s.next(1e-3, 5, &[1.0, 0.5, 0.5, 0.5, 0.9]), 1e-3);
    }

    #[test]
    fn loss_decay_stops_at_zero() {
        let s = paper();
        let rising: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let mut lr = s.initial();
        for done in 1..=100 {
            lr = s.next(lr, done, &rising[..done]);
        }
        assert_eq!(lr, 0.0);
        // Zero stays zero.
        assert_eq!(s.next(0.0, 5, &rising[..5]), 0.0);
    }

    #[test]
    fn cosine_goes_from_base_to_zero() {
        let s = Schedule::new(ScheduleKind::Cosine, 1e-3, 30);
        assert_eq!(s.initial(), 1e-3);
        assert!((s.next(1e-3, 15, &[]) - 5e-4).abs() < 1e-12);
        assert!(s.next(1e-3, 30, &[]).abs() < 1e-12);
        let mut last = s.initial();
        for done in 1..=30 {
            let lr = s.next(last, done, &[]);
            assert!(lr <= last, "cosine must not increase");
            last = lr;
        }
    }

    #[test]
    fn warmup_ramps_linearly_then_hands_over() {
        let s = Schedule::new(ScheduleKind::Cosine, 1e-3, 12).with_warmup(2);
        assert!((s.initial() - 1e-3 / 3.0).abs() < 1e-15);
        assert!((s.next(s.initial(), 1, &[1.0]) - 2e-3 / 3.0).abs() < 1e-15);
        assert_eq!(s.next(2e-3 / 3.0, 2, &[1.0, 1.0]), 1e-3);
        // Cosine over the remaining 10 epochs: half way after 5 of them.
        assert!((s.next(1e-3, 7, &[]) - 5e-4).abs() < 1e-12);
        let decay = Schedule::new(ScheduleKind::LossDecay, 1e-3, 30).with_warmup(1);
        // The first check comes 5 epochs after the warm-up, against the first epoch after it.
        let losses = [9.0, 1.0, 0.5, 0.5, 0.5, 1.1];
        assert!(decay.next(1e-3, 6, &losses) < 1e-3);
        assert_eq!(decay.next(1e-3, 5, &losses[..5]), 1e-3);
    }

    #[test]
    fn plateau_cuts_after_patience_bad_epochs_and_counts_again() {
        let s = Schedule::new(ScheduleKind::Plateau, 1e-3, 30);
        let improving = [5.0, 4.0, 3.0, 2.0];
        assert_eq!(s.next(1e-3, 4, &improving), 1e-3);
        let flat = [5.0, 4.0, 4.5, 4.2, 4.1];
        assert_eq!(s.next(1e-3, 4, &flat[..4]), 1e-3);
        assert!((s.next(1e-3, 5, &flat) - 2e-4).abs() < 1e-15);
        // Three more bad epochs after the cut: a second cut; a new best resets the count.
        let longer = [5.0, 4.0, 4.5, 4.2, 4.1, 4.3, 4.4, 4.6];
        assert!((s.next(2e-4, 8, &longer) - 4e-5).abs() < 1e-15);
        let recovered = [5.0, 4.0, 4.5, 4.2, 4.1, 3.0, 4.4, 4.6];
        assert!((s.next(2e-4, 8, &recovered) - 2e-4).abs() < 1e-15);
    }

    #[test]
    fn fixed_never_changes_and_names_parse() {
        let s = Schedule::new(ScheduleKind::Fixed, 0.01, 30);
        assert_eq!(s.next(0.01, 5, &[1.0, 2.0, 3.0, 4.0, 5.0]), 0.01);
        for k in [
            ScheduleKind::LossDecay,
            ScheduleKind::Cosine,
            ScheduleKind::Fixed,
            ScheduleKind::Plateau,
        ] {
            assert_eq!(k.name().parse::<ScheduleKind>().unwrap(), k);
        }
        assert!("step".parse::<ScheduleKind>().is_err());
    }
}
