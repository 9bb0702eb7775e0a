//! Training BatchNorm (burn on the flex backend, with the native kernels of
//! `vendor/burn-flex/src/ops/batch_norm.rs`) against the definition: output, batch mean and
//! biased variance, and the gradients of input, gamma and beta; inference with running
//! statistics too. Shapes cover the network's planes (48x48 down to 6x6), a rank-2 input
//! (one value per plane), a batch of one, and a mean far from zero (where a raw sum of
//! squares would cancel).

use burn::tensor::module::{batch_norm, batch_norm_train};
use burn::tensor::{Device, Tensor, TensorData};

mod common;
use common::{assert_close, random};

const EPSILON: f64 = 1e-5;

/// Seeded values in [offset - spread / 2, offset + spread / 2).
fn random_around(n: usize, seed: &mut u64, offset: f32, spread: f32) -> Vec<f32> {
    random(n, seed).into_iter().map(|v| offset + spread * v).collect()
}

/// `[batch, channels, plane]` with the reference computed in f64.
struct Case {
    shape: Vec<usize>,
    offset: f32,
}

struct Reference {
    y: Vec<f64>,
    mean: Vec<f64>,
    var: Vec<f64>,
    dx: Vec<f64>,
    dgamma: Vec<f64>,
    dbeta: Vec<f64>,
}

impl Case {
    fn dims(&self) -> (usize, usize, usize) {
        (self.shape[0], self.shape[1], self.shape[2..].iter().product())
    }

    /// Output and gradients of `sum(batch_norm_train(x) * g)` by the definition.
    fn reference(&self, x: &[f32], gamma: &[f32], beta: &[f32], g: &[f32]) -> Reference {
        let (n, c, p) = self.dims();
        let m = (n * p) as f64;
        let at = |b: usize, ch: usize, i: usize| (b * c + ch) * p + i;
        let mut r = Reference {
            y: vec![0.0; x.len()],
            mean: vec![0.0; c],
            var: vec![0.0; c],
            dx: vec![0.0; x.len()],
            dgamma: vec![0.0; c],
            dbeta: vec![0.0; c],
        };
        for ch in 0..c {
            let values = || (0..n).flat_map(move |b| (0..p).map(move |i| at(b, ch, i)));
            let mean = values().map(|k| f64::from(x[k])).sum::<f64>() / m;
            let var = values().map(|k| (f64::from(x[k]) - mean).powi(2)).sum::<f64>() / m;
            let inv_std = 1.0 / (var + EPSILON).sqrt();
            let x_hat = |k: usize| (f64::from(x[k]) - mean) * inv_std;
            let mut mean_g = 0.0;
            let mut mean_g_xhat = 0.0;
            for k in values() {
                r.y[k] = f64::from(gamma[ch]) * x_hat(k) + f64::from(beta[ch]);
                r.dbeta[ch] += f64::from(g[k]);
                r.dgamma[ch] += f64::from(g[k]) * x_hat(k);
                mean_g += f64::from(g[k]) / m;
                mean_g_xhat += f64::from(g[k]) * x_hat(k) / m;
            }
            for k in values() {
                r.dx[k] = f64::from(gamma[ch]) * inv_std * (f64::from(g[k]) - mean_g - x_hat(k) * mean_g_xhat);
            }
            r.mean[ch] = mean;
            r.var[ch] = var;
        }
        r
    }
}

fn check<const D: usize>(case: &Case, seed: &mut u64) {
    let device = Device::flex().autodiff();
    let (n, c, p) = case.dims();
    let x = random_around(n * c * p, seed, case.offset, 4.0);
    let gamma = random_around(c, seed, 1.0, 1.0);
    let beta = random_around(c, seed, 0.0, 1.0);
    let g = random_around(n * c * p, seed, 0.0, 2.0);
    let want = case.reference(&x, &gamma, &beta, &g);

    let shape: [usize; D] = case.shape.clone().try_into().expect("rank");
    let xt = Tensor::<D>::from_data(TensorData::new(x.clone(), shape), &device).require_grad();
    let gt = Tensor::<1>::from_data(TensorData::new(gamma.clone(), [c]), &device).require_grad();
    let bt = Tensor::<1>::from_data(TensorData::new(beta.clone(), [c]), &device).require_grad();
    let weights = Tensor::<D>::from_data(TensorData::new(g, shape), &device);
    let result = batch_norm_train(xt.clone(), gt.clone(), bt.clone(), EPSILON);
    let grads = (result.output.clone() * weights).sum().backward();

    let s = &case.shape;
    // The variance of values near 1000 is known to ~1e-7 relative to 1000^2 in f32 inputs;
    // the statistics are compared against their own scale.
    assert_close("output", s, result.output, &want.y, 1e-4);
    assert_close("mean", s, result.mean, &want.mean, 1e-5);
    assert_close("variance", s, result.variance, &want.var, 1e-4);
    assert_close(
        "input gradient",
        s,
        xt.grad(&grads).expect("input gradient"),
        &want.dx,
        1e-4,
    );
    assert_close(
        "gamma gradient",
        s,
        gt.grad(&grads).expect("gamma gradient"),
        &want.dgamma,
        1e-4,
    );
    assert_close(
        "beta gradient",
        s,
        bt.grad(&grads).expect("beta gradient"),
        &want.dbeta,
        1e-4,
    );

    // Inference with given statistics: the same affine map with the batch's own statistics
    // reproduces the training output.
    let plain = Device::flex();
    let tensor1 = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [c]), &plain);
    let to_f32 = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<f32>>();
    let y = batch_norm(
        Tensor::<D>::from_data(TensorData::new(x, shape), &plain),
        tensor1(gamma),
        tensor1(beta),
        tensor1(to_f32(&want.mean)),
        tensor1(to_f32(&want.var)),
        EPSILON,
    );
    assert_close("inference output", s, y, &want.y, 1e-4);
}

#[test]
fn batch_norm_values_and_gradients_match_the_definition() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for (shape, offset) in [
        (vec![4, 3, 48, 48], 0.0), // conv1's plane
        (vec![3, 5, 12, 12], 0.5),
        (vec![2, 4, 6, 6], -2.0),   // the last Inception's plane
        (vec![1, 3, 7, 5], 0.0),    // one image, odd plane
        (vec![5, 2, 9, 9], 1000.0), // mean far from zero
    ] {
        check::<4>(&Case { shape, offset }, &mut seed);
    }
    check::<2>(
        &Case {
            shape: vec![16, 7],
            offset: 3.0,
        },
        &mut seed,
    );
    check::<3>(
        &Case {
            shape: vec![3, 4, 10],
            offset: 0.0,
        },
        &mut seed,
    );
}
