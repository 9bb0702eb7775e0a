//! Mixup (Zhang et al., 2018): each training batch is blended with a shuffled copy of
//! itself, images and targets alike, `x_i <- l x_i + (1 - l) x_p(i)` with one
//! `l ~ Beta(alpha, alpha)` per batch.
//!
//! Why: the in-the-wild model's targets are already soft (FER+'s vote distributions), and
//! mixup asks the network for scores that change linearly between faces, a regulariser that
//! reaches further than the pixel augmentation of [`super::augment`] and keeps probabilities
//! from saturating. It acts last, after flipping and augmentation, on the network input, and
//! draws from the epoch's seeded generator, so a resumed run mixes exactly as an unbroken one.

use rand::Rng;
use rand::seq::SliceRandom;

use crate::data::balance::standard_normal;

/// Mixes the batch in place: `inputs` holds `n` images of `per_image` values, `targets` `n`
/// rows of `classes` values. Returns the mixing weight `l` of each image's own content (1 when
/// `alpha` is 0 or the batch holds one image, and nothing changes). `scratch` is reused.
pub fn mix<R: Rng>(
    inputs: &mut [f32],
    targets: &mut [f32],
    per_image: usize,
    classes: usize,
    alpha: f32,
    rng: &mut R,
    scratch: &mut Vec<f32>,
) -> f32 {
    let n = targets.len() / classes.max(1);
    if alpha <= 0.0 || n < 2 || inputs.len() != n * per_image {
        return 1.0;
    }
    let l = beta_symmetric(alpha, rng);
    let mut partner: Vec<usize> = (0..n).collect();
    partner.shuffle(rng);
    for (values, width) in [(inputs, per_image), (targets, classes)] {
        scratch.clear();
        scratch.extend_from_slice(values);
        for (i, row) in values.chunks_exact_mut(width).enumerate() {
            let other = &scratch[partner[i] * width..][..width];
            for (v, &o) in row.iter_mut().zip(other) {
                *v = l * *v + (1.0 - l) * o;
            }
        }
    }
    l
}

/// A draw of `Beta(alpha, alpha)`, as `X / (X + Y)` with `X`, `Y` independent
/// `Gamma(alpha, 1)` draws.
pub fn beta_symmetric<R: Rng>(alpha: f32, rng: &mut R) -> f32 {
    let a = f64::from(alpha);
    let (x, y) = (gamma(a, rng), gamma(a, rng));
    if x + y > 0.0 { (x / (x + y)) as f32 } else { 0.5 }
}

/// A `Gamma(shape, 1)` draw (Marsaglia and Tsang, 2000); a shape below 1 is boosted by
/// `Gamma(shape) = Gamma(shape + 1) * U^(1 / shape)`.
fn gamma<R: Rng>(shape: f64, rng: &mut R) -> f64 {
    if shape < 1.0 {
        let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        return gamma(shape + 1.0, rng) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let z = standard_normal(rng);
        let v = 1.0 + c * z;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u: f64 = rng.random::<f64>();
        if u > 0.0 && u.ln() < 0.5 * z * z + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn beta_draws_have_the_distributions_mean_and_variance() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for alpha in [0.2f32, 1.0, 4.0] {
            let draws: Vec<f64> = (0..20_000)
                .map(|_| f64::from(beta_symmetric(alpha, &mut rng)))
                .collect();
            assert!(draws.iter().all(|l| (0.0..=1.0).contains(l)), "alpha {alpha}");
            let mean = draws.iter().sum::<f64>() / draws.len() as f64;
            let var = draws.iter().map(|l| (l - mean) * (l - mean)).sum::<f64>() / draws.len() as f64;
            // Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)).
            let expected = 1.0 / (4.0 * (2.0 * f64::from(alpha) + 1.0));
            assert!((mean - 0.5).abs() < 0.01, "alpha {alpha}: mean {mean}");
            assert!(
                (var - expected).abs() < 0.1 * expected,
                "alpha {alpha}: variance {var} vs {expected}"
            );
        }
    }

    #[test]
    fn mixing_blends_images_and_targets_with_one_partner_each() {
        let (n, per_image, classes) = (6, 4, 3);
        let inputs: Vec<f32> = (0..n * per_image).map(|v| v as f32).collect();
        let targets: Vec<f32> = (0..n)
            .flat_map(|i| {
                [
                    (i % 3 == 0) as u8 as f32,
                    (i % 3 == 1) as u8 as f32,
                    (i % 3 == 2) as u8 as f32,
                ]
            })
            .collect();
        let (mut xs, mut ts, mut scratch) = (inputs.clone(), targets.clone(), Vec::new());
        let l = mix(
            &mut xs,
            &mut ts,
            per_image,
            classes,
            0.4,
            &mut ChaCha8Rng::seed_from_u64(3),
            &mut scratch,
        );
        assert!((0.0..=1.0).contains(&l) && l != 1.0);
        for i in 0..n {
            // Image i's values are l * own + (1 - l) * some partner's, the same partner for
            // its pixels and its target; each target row still sums to 1.
            let own = &inputs[i * per_image..][..per_image];
            let partner = (0..n)
                .find(|&p| {
                    let other = &inputs[p * per_image..][..per_image];
                    own.iter()
                        .zip(other)
                        .zip(&xs[i * per_image..][..per_image])
                        .all(|((a, b), x)| (l * a + (1.0 - l) * b - x).abs() < 1e-4)
                })
                .expect("a partner");
            for c in 0..classes {
                let want = l * targets[i * classes + c] + (1.0 - l) * targets[partner * classes + c];
                assert!((ts[i * classes + c] - want).abs() < 1e-6);
            }
            assert!((ts[i * classes..][..classes].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        // The same seed mixes the same way; alpha 0 leaves the batch alone.
        let (mut xs2, mut ts2) = (inputs.clone(), targets.clone());
        mix(
            &mut xs2,
            &mut ts2,
            per_image,
            classes,
            0.4,
            &mut ChaCha8Rng::seed_from_u64(3),
            &mut scratch,
        );
        assert_eq!((xs2, ts2), (xs, ts));
        let (mut xs3, mut ts3) = (inputs.clone(), targets.clone());
        assert_eq!(
            mix(
                &mut xs3,
                &mut ts3,
                per_image,
                classes,
                0.0,
                &mut ChaCha8Rng::seed_from_u64(3),
                &mut scratch
            ),
            1.0
        );
        assert_eq!((xs3, ts3), (inputs, targets));
    }
}
