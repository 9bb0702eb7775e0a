//! The fused Adam and AdamW steps (`host::train::optim`) against burn's own optimisers: the
//! same weights and moments bit for bit over several steps, with and without weight decay,
//! on tensors larger than one parallel chunk and of ranks 1 and 4; and a training run's
//! optimiser state saved by burn's AdamW continues under the fused one exactly as under
//! burn's.

use burn::nn::{Linear, LinearConfig};
use burn::optim::{
    Adam, AdamConfig, AdamState, AdamW, AdamWConfig, AdamWState, GradientsParams, ModuleOptimizer, Optimizer,
};
use burn::tensor::{Device, Tensor, TensorData};
use host::train::optim::FusedAdam;

mod common;
use common::random;

fn values<const D: usize>(t: &Tensor<D>) -> Vec<u32> {
    t.to_data().iter::<f32>().map(f32::to_bits).collect()
}

fn tensor<const D: usize>(shape: [usize; D], seed: &mut u64, device: &Device) -> Tensor<D> {
    let n = shape.iter().product();
    Tensor::from_data(TensorData::new(random(n, seed), shape), device)
}

/// Four steps of `reference` and `fused` from the same weights and gradients.
/// `moments` reads the reference's state as AdamW's.
fn same_steps<const D: usize, O: Optimizer>(
    reference: &O,
    fused: &FusedAdam,
    shape: [usize; D],
    moments: impl Fn(O::State<D>) -> AdamWState<D>,
) {
    let device = Device::flex();
    let mut seed = 0x5eed_u64 + shape.len() as u64;
    let start = tensor(shape, &mut seed, &device);
    let (mut a, mut b) = (start.clone(), start);
    let (mut sa, mut sb): (Option<O::State<D>>, Option<AdamWState<D>>) = (None, None);
    for (step, lr) in [1e-3, 5e-4, 3e-4, 1e-4].into_iter().enumerate() {
        let grad = tensor(shape, &mut seed, &device).mul_scalar(10.0 * (step + 1) as f32);
        let (na, nsa) = reference.step(lr, a, grad.clone(), sa);
        let (nb, nsb) = fused.step(lr, b, grad, sb);
        assert_eq!(values(&na), values(&nb), "weights after step {} of {shape:?}", step + 1);
        let (ma, mb) = (moments(nsa.clone().unwrap()).momentum, nsb.clone().unwrap().momentum);
        assert_eq!(ma.time, mb.time);
        assert_eq!(
            values(&ma.moment_1),
            values(&mb.moment_1),
            "first moment, step {}",
            step + 1
        );
        assert_eq!(
            values(&ma.moment_2),
            values(&mb.moment_2),
            "second moment, step {}",
            step + 1
        );
        (a, b, sa, sb) = (na, nb, nsa, nsb);
    }
}

#[test]
fn fused_adam_matches_burns_adam_bit_for_bit() {
    for decay in [None, Some(0.01f32)] {
        let reference: Adam = AdamConfig::new()
            .with_weight_decay(decay.map(burn::optim::decay::WeightDecayConfig::new))
            .build();
        let fused = FusedAdam::adam(decay);
        same_steps(&reference, &fused, [100_003], |s: AdamState<1>| {
            AdamWState::new(s.momentum)
        });
        same_steps(&reference, &fused, [32, 16, 3, 3], |s: AdamState<4>| {
            AdamWState::new(s.momentum)
        });
    }
}

#[test]
fn fused_adamw_matches_burns_adamw_bit_for_bit() {
    for decay in [0.0f32, 0.05] {
        let reference: AdamW = AdamWConfig::new().with_weight_decay(decay).build();
        let fused = FusedAdam::adamw(decay);
        same_steps(&reference, &fused, [70_001], |s: AdamWState<1>| s);
        same_steps(&reference, &fused, [8, 4, 1, 3], |s: AdamWState<4>| s);
    }
}

/// One optimiser step of a small layer on a fixed batch.
fn train_step(optimizer: &mut ModuleOptimizer, model: Linear, seed: &mut u64) -> Linear {
    let device = Device::flex().autodiff();
    let x = tensor([16, 40], seed, &device);
    let loss = model.forward(x).powi_scalar(2).mean();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    optimizer.step(1e-3, model, grads)
}

/// Two steps under `burns`, saved; then one more step under `burns` and under `fused` loaded
/// from the save give the same weights.
fn checkpoint_continues(mut burns: ModuleOptimizer, fused: ModuleOptimizer) {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("optimizer.bpk");
    let mut seed = 99;
    let model = LinearConfig::new(40, 7).init(&device.autodiff());
    let model = train_step(&mut burns, model, &mut seed);
    let model = train_step(&mut burns, model, &mut seed);
    burns.save(&path).unwrap();
    let mut fused = fused.load(&path).unwrap();
    let (mut seed_a, mut seed_b) = (seed, seed);
    let a = train_step(&mut burns, model.clone(), &mut seed_a);
    let b = train_step(&mut fused, model, &mut seed_b);
    assert_eq!(values(&a.weight.val()), values(&b.weight.val()));
    assert_eq!(values(&a.bias.unwrap().val()), values(&b.bias.unwrap().val()));
}

#[test]
fn burns_checkpoints_continue_under_the_fused_steps() {
    checkpoint_continues(
        AdamWConfig::new().with_weight_decay(0.05).init(),
        ModuleOptimizer::from(FusedAdam::adamw(0.05)),
    );
    checkpoint_continues(AdamConfig::new().init(), ModuleOptimizer::from(FusedAdam::adam(None)));
}
