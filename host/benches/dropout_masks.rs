//! Dropout's masks for one training step of the paper's network at batch 64 (every layer
//! with a dropout rate: maxpool1's 24x24x64 output, fc1 and fc2), drawn the way burn's
//! `Dropout` draws them (`Tensor::random` with a Bernoulli of the keep probability) on the
//! flex backend, side by side with burn's definition of those values, `TensorData::random`
//! from the same generator. flex's `float_random` (`vendor/burn-flex/src/ops/float.rs`)
//! builds one sampler per tensor instead of one per element; the values are the same
//! (`host/tests/random_tensors.rs`).
//!
//!   cargo bench -p host --bench dropout_masks

use burn::tensor::{Device, Distribution, Tensor};
use burn_std::TensorData;
use burn_std::rand::{SeedableRng, StdRng};
use criterion::{Criterion, criterion_group, criterion_main};
use shared::arch::{Architecture, Shape};

const BATCH: usize = 64;

/// (shape with the batch first, keep probability) of every dropout in the network.
fn masks() -> Vec<(Vec<usize>, f64)> {
    let arch = Architecture::paper(shared::NUM_CLASSES);
    let summary = arch.summary().expect("the paper's network is consistent");
    arch.layers
        .iter()
        .zip(summary)
        .filter(|(layer, _)| layer.dropout > 0.0)
        .map(|(layer, row)| {
            let shape = match row.output {
                Shape::Spatial { h, w, c } => vec![BATCH, c, h, w],
                Shape::Flat(n) => vec![BATCH, n],
            };
            (shape, 1.0 - f64::from(layer.dropout))
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let masks = masks();
    let device = Device::flex();
    device.seed(7);
    let mut rng = StdRng::seed_from_u64(7);
    let mut group = c.benchmark_group("dropout masks of one batch-64 step");
    group.sample_size(20);
    group.bench_function("flex Tensor::random", |b| {
        b.iter(|| {
            for (shape, keep) in &masks {
                let keep = Distribution::Bernoulli(*keep);
                match shape[..] {
                    [b, c, h, w] => drop(std::hint::black_box(Tensor::<4>::random([b, c, h, w], keep, &device))),
                    [b, n] => drop(std::hint::black_box(Tensor::<2>::random([b, n], keep, &device))),
                    _ => unreachable!("masks are 4D or 2D"),
                }
            }
        })
    });
    group.bench_function("burn's definition TensorData::random", |b| {
        b.iter(|| {
            for (shape, keep) in &masks {
                std::hint::black_box(TensorData::random::<f32, _, _>(
                    shape.clone(),
                    Distribution::Bernoulli(*keep),
                    &mut rng,
                ));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
