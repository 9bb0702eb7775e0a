//! Random tensors on the flex backend hold the values of burn's definition:
//! `TensorData::random` drawing from the generator that `Backend::seed` makes. The patched
//! `float_random` (`vendor/burn-flex/src/ops/float.rs`) builds one sampler per tensor
//! instead of one per element; dropout's masks, drawn this way every training step, must
//! not change with it. One test in this binary: the backend's generator is process-wide.

use burn::tensor::{Device, Distribution, Tensor};
use burn_std::TensorData;
use burn_std::rand::{SeedableRng, StdRng};

#[test]
fn random_tensors_match_burns_definition_for_every_distribution() {
    let device = Device::flex();
    let shape = [64, 24 * 24 + 1];
    let distributions = [
        Distribution::Default,
        Distribution::Uniform(-0.5, 2.0),
        Distribution::Bernoulli(0.75),
        Distribution::Normal(0.1, 0.3),
    ];
    for (seed, distribution) in (17u64..).zip(distributions) {
        device.seed(seed);
        // Two tensors in a row: the second continues the generator where the first left it.
        let got: Vec<f32> = (0..2)
            .flat_map(|_| {
                Tensor::<2>::random(shape, distribution, &device)
                    .into_data()
                    .iter::<f32>()
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut rng = StdRng::seed_from_u64(seed);
        let want: Vec<f32> = (0..2)
            .flat_map(|_| {
                TensorData::random::<f32, _, _>(shape, distribution, &mut rng)
                    .iter::<f32>()
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(
            got == want,
            "{distribution:?}: flex's values differ from TensorData::random's"
        );
        let distinct = got
            .iter()
            .map(|v| v.to_bits())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let expected_distinct = if matches!(distribution, Distribution::Bernoulli(_)) {
            2
        } else {
            1000
        };
        assert!(
            distinct >= expected_distinct,
            "{distribution:?}: only {distinct} distinct values"
        );
    }
}
