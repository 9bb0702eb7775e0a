//! Class balancing by Gaussian noise, the paper's step 4: minority classes of the training
//! split get noisy copies (mean 0, variance 5 on 0..255 pixels) until they are two to three
//! times their size, at most the size of the largest class.
//!
//! Only the training split is ever balanced, and a copy keeps its original's `source` and
//! `subject` (with `augmented = true`), so the leak checks can see that no copy of an image
//! sits on the other side of a split. The noise is drawn from a seeded ChaCha generator.

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use shared::NUM_CLASSES;

use super::{BalanceConfig, Sample};

/// One standard-normal draw (Box-Muller; `rand` 0.9 has no normal distribution of its own).
pub(crate) fn standard_normal(rng: &mut impl Rng) -> f64 {
    // 1 - [0, 1) is (0, 1]: the logarithm stays finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `pixels` plus Gaussian noise of standard deviation `std`, rounded and clamped to 0..255.
pub fn add_noise(pixels: &[u8], std: f32, rng: &mut ChaCha8Rng) -> Vec<u8> {
    pixels
        .iter()
        .map(|&p| (p as f64 + standard_normal(rng) * std as f64).round().clamp(0.0, 255.0) as u8)
        .collect()
}

/// How many samples each class should hold after balancing: a class below the largest grows
/// to `min(largest, floor(count x factor))`; empty classes stay empty.
pub fn targets(counts: [usize; NUM_CLASSES], factor: f32) -> [usize; NUM_CLASSES] {
    let largest = counts.iter().copied().max().unwrap_or(0);
    counts.map(|n| {
        if n == 0 || factor <= 1.0 {
            n
        } else {
            ((n as f64 * factor as f64).floor() as usize).clamp(n, largest)
        }
    })
}

/// Appends noisy copies of minority-class samples to `train`; returns the copies added per
/// class. Originals are drawn in a shuffled round-robin, so each is copied at most once more
/// than any other of its class.
pub fn balance(train: &mut Vec<Sample>, config: &BalanceConfig, rng: &mut ChaCha8Rng) -> [usize; NUM_CLASSES] {
    let mut by_class: [Vec<usize>; NUM_CLASSES] = Default::default();
    for (i, s) in train.iter().enumerate().filter(|(_, s)| !s.augmented) {
        by_class[s.label.index()].push(i);
    }
    let counts = by_class.each_ref().map(Vec::len);
    let targets = targets(counts, config.factor);
    let mut added = [0; NUM_CLASSES];
    for class in 0..NUM_CLASSES {
        let need = targets[class] - counts[class];
        if need == 0 {
            continue;
        }
        let mut order = by_class[class].clone();
        order.shuffle(rng);
        for k in 0..need {
            let original = &train[order[k % order.len()]];
            let copy = Sample {
                pixels: add_noise(&original.pixels, config.noise_std, rng),
                augmented: true,
                ..original.clone()
            };
            train.push(copy);
        }
        added[class] = need;
    }
    added
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DatasetKind;
    use rand::SeedableRng;
    use shared::Emotion;

    fn sample(label: Emotion, i: usize) -> Sample {
        Sample {
            pixels: vec![(i * 10 % 200) as u8 + 20; 48 * 48],
            label,
            dataset: DatasetKind::CkPlus,
            subject: format!("S{i}"),
            source: format!("{label}_{i}.png"),
            augmented: false,
            votes: None,
        }
    }

    #[test]
    fn targets_follow_the_factor_and_cap_at_the_largest() {
        assert_eq!(
            targets([100, 10, 60, 0, 40, 100, 1], 2.0),
            [100, 20, 100, 0, 80, 100, 2]
        );
        assert_eq!(
            targets([100, 10, 60, 0, 40, 100, 1], 3.0),
            [100, 30, 100, 0, 100, 100, 3]
        );
        assert_eq!(targets([100, 10, 60, 0, 40, 100, 1], 1.0), [100, 10, 60, 0, 40, 100, 1]);
    }

    #[test]
    fn noise_has_the_papers_variance() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let flat = vec![128u8; 200_000];
        let noisy = add_noise(&flat, 5f32.sqrt(), &mut rng);
        let n = noisy.len() as f64;
        let mean = noisy.iter().map(|&p| p as f64 - 128.0).sum::<f64>() / n;
        let var = noisy.iter().map(|&p| (p as f64 - 128.0 - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 0.02, "mean {mean}");
        // Rounding to integers adds 1/12 to the variance.
        assert!((var - (5.0 + 1.0 / 12.0)).abs() < 0.1, "variance {var}");
        let clamped = add_noise(&[0, 255], 50.0, &mut rng);
        assert_eq!(clamped.len(), 2);
    }

    #[test]
    fn balancing_off_adds_nothing() {
        let mut train: Vec<Sample> = (0..40).map(|i| sample(Emotion::Happy, i)).collect();
        train.extend((0..10).map(|i| sample(Emotion::Fear, i)));
        let before = train.clone();
        let config = BalanceConfig::off();
        assert!(!config.is_on() && BalanceConfig::default().is_on());
        let added = balance(&mut train, &config, &mut ChaCha8Rng::seed_from_u64(9));
        assert_eq!(added, [0; NUM_CLASSES]);
        assert_eq!(train, before);
    }

    #[test]
    fn balancing_adds_marked_copies_of_minorities_only() {
        let mut train: Vec<Sample> = (0..40).map(|i| sample(Emotion::Happy, i)).collect();
        train.extend((0..10).map(|i| sample(Emotion::Fear, i)));
        train.extend((0..30).map(|i| sample(Emotion::Sad, i)));
        let config = BalanceConfig {
            factor: 2.5,
            noise_std: 5f32.sqrt(),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let added = balance(&mut train, &config, &mut rng);
        assert_eq!(added[Emotion::Fear.index()], 15);
        assert_eq!(added[Emotion::Sad.index()], 10);
        assert_eq!(added[Emotion::Happy.index()], 0);
        assert_eq!(train.len(), 80 + 25);
        let copies: Vec<&Sample> = train.iter().filter(|s| s.augmented).collect();
        assert_eq!(copies.len(), 25);
        for c in &copies {
            let original = train
                .iter()
                .find(|s| !s.augmented && s.source == c.source)
                .expect("copy of an original");
            assert_eq!((original.label, &original.subject), (c.label, &c.subject));
            assert_ne!(original.pixels, c.pixels, "noise changed nothing");
        }
        // Round-robin: every fear original copied once or twice.
        for i in 0..10 {
            let n = copies.iter().filter(|c| c.source == format!("fear_{i}.png")).count();
            assert!((1..=2).contains(&n), "fear_{i} copied {n} times");
        }
        // Same seed, same copies.
        let mut again: Vec<Sample> = train.iter().filter(|s| !s.augmented).cloned().collect();
        balance(&mut again, &config, &mut ChaCha8Rng::seed_from_u64(9));
        assert_eq!(again, train);
    }
}
