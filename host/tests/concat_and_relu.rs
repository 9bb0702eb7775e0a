//! Concatenation of channels and ReLU on the flex backend against the definition, at the
//! network's sizes: large enough for the paths that split the work over threads
//! (`vendor/burn-flex/src/ops/cat.rs`, `unary.rs`), and small enough for the serial ones.

use burn::tensor::{Device, Tensor, TensorData};

mod common;
use common::random;

#[test]
fn channel_concatenation_matches_the_definition() {
    let device = Device::flex();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    // (batch, channels of each part, plane): the inception_b output of a batch of 64, and a
    // small one below the parallel threshold.
    for (batch, channels, side) in [(64, vec![64, 96, 96], 12), (2, vec![3, 1, 2], 3)] {
        let plane = side * side;
        let parts: Vec<Vec<f32>> = channels.iter().map(|c| random(batch * c * plane, &mut seed)).collect();
        let total: usize = channels.iter().sum();
        let mut want = Vec::with_capacity(batch * total * plane);
        for b in 0..batch {
            for (part, &c) in parts.iter().zip(&channels) {
                want.extend_from_slice(&part[b * c * plane..][..c * plane]);
            }
        }
        let tensors: Vec<Tensor<4>> = parts
            .iter()
            .zip(&channels)
            .map(|(p, &c)| Tensor::from_data(TensorData::new(p.clone(), [batch, c, side, side]), &device))
            .collect();
        let got: Vec<f32> = Tensor::cat(tensors, 1).into_data().iter::<f32>().collect();
        assert!(got == want, "cat of {channels:?} x {batch} images of {plane} pixels");
    }
}

#[test]
fn relu_matches_the_definition_in_place_and_on_shared_tensors() {
    let device = Device::flex();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for n in [64 * 64 * 24 * 24, 1000] {
        let mut x = random(n, &mut seed);
        x.iter_mut().step_by(101).for_each(|v| *v = f32::NAN);
        let want: Vec<f32> = x.iter().map(|&v| if v.is_nan() || v > 0.0 { v } else { 0.0 }).collect();
        let same = |got: Vec<f32>| got.iter().zip(&want).all(|(g, w)| g.to_bits() == w.to_bits());
        let t = Tensor::<1>::from_data(TensorData::new(x.clone(), [n]), &device);
        // Shared: the input must survive.
        let kept = t.clone();
        let got = burn::tensor::activation::relu(t).into_data().iter::<f32>().collect();
        assert!(same(got), "relu of {n} shared values");
        let kept: Vec<f32> = kept.into_data().iter::<f32>().collect();
        assert!(
            kept.iter().zip(&x).all(|(a, b)| a.to_bits() == b.to_bits()),
            "relu changed its shared input"
        );
        // Unique: computed in place.
        let t = Tensor::<1>::from_data(TensorData::new(x, [n]), &device);
        let got = burn::tensor::activation::relu(t).into_data().iter::<f32>().collect();
        assert!(same(got), "relu of {n} values in place");
    }
}
