//! What the kernel tests (`conv_gradients`, `batch_norm_gradients`, `pool_gradients`) share:
//! seeded inputs, and comparison of burn's results against a reference computed in f64.
// Each test crate includes this module and uses part of it.
#![allow(dead_code)]

use burn::tensor::Tensor;

/// `n` values in [-0.5, 0.5) from a xorshift stream; `seed` advances.
pub fn random(n: usize, seed: &mut u64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

/// Every value of `got` within `tolerance` times the largest of 1 and `max |want|` of `want`.
pub fn assert_close<const D: usize>(
    what: &str,
    case: &impl std::fmt::Debug,
    got: Tensor<D>,
    want: &[f64],
    tolerance: f64,
) {
    let got: Vec<f32> = got.into_data().iter::<f32>().collect();
    assert_eq!(got.len(), want.len(), "{what} of {case:?}: length");
    let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (f64::from(*g) - w).abs() <= tolerance * scale,
            "{what} of {case:?}, element {i}: {g} vs {w}"
        );
    }
}
