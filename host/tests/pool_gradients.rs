//! Max pooling (burn on the flex backend, with the plane kernels of
//! `vendor/burn-flex/src/ops/pool.rs`) against the definition: values (training and
//! inference) and input gradients for the network's pools (2x2 stride 2; 3x3 stride 2 padded
//! by 1), unpadded 3x3 stride 2 and odd widths, a 3x3 stride-1 one and a stride of 3 (the
//! inference kernel's two paths for whole windows: pairs for stride 2, strided otherwise),
//! with ties (the first of equal values wins), NaN (the last NaN of a window wins) and a
//! batch large enough for the parallel gradient path.

use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor, TensorData};

mod common;
use common::random;

#[test]
fn max_pool_values_and_gradients_match_the_definition() {
    let inference = Device::flex();
    let device = inference.clone().autodiff();
    let mut seed = 0x853c_49e6_748f_ea9bu64;
    // (batch, channels, h, w, kernel, stride, padding)
    for (n, c, h, w, k, s, p) in [
        (2, 3, 8, 8, 2, 2, 0),
        (2, 3, 9, 7, 3, 2, 1),
        (1, 2, 6, 6, 3, 1, 1),
        (3, 2, 12, 12, 3, 2, 1),
        (4, 32, 48, 48, 2, 2, 0),
        (2, 3, 10, 12, 3, 2, 0),
        (2, 3, 7, 9, 2, 2, 0),
        (2, 3, 11, 13, 3, 3, 0),
    ] {
        let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
        let mut x = random(n * c * h * w, &mut seed);
        if c == 2 {
            // A handful of distinct values: most windows hold ties.
            x.iter_mut().for_each(|v| *v = (*v * 2.0).round());
        } else {
            // NaN wins its window (the last NaN, as in PyTorch).
            x.iter_mut().step_by(97).for_each(|v| *v = f32::NAN);
        }
        let g = random(n * c * oh * ow, &mut seed);
        let mut y_ref = vec![f32::NEG_INFINITY; n * c * oh * ow];
        let mut dx_ref = vec![0.0f32; x.len()];
        for plane in 0..n * c {
            for i in 0..oh {
                for j in 0..ow {
                    let mut best = None;
                    for ki in 0..k {
                        for kj in 0..k {
                            let (Some(r), Some(q)) = ((i * s + ki).checked_sub(p), (j * s + kj).checked_sub(p)) else {
                                continue;
                            };
                            if r < h && q < w {
                                let at = (plane * h + r) * w + q;
                                if best.is_none_or(|b: usize| x[at] > x[b] || x[at].is_nan()) {
                                    best = Some(at);
                                }
                            }
                        }
                    }
                    let at = best.expect("every window overlaps the image");
                    let o = (plane * oh + i) * ow + j;
                    y_ref[o] = x[at];
                    dx_ref[at] += g[o];
                }
            }
        }
        let options = || MaxPoolOptions::new([k, k]).with_stride([s, s]).with_padding([p, p]);
        let case = (n, c, h, w, k, s, p);
        let x_inference = Tensor::<4>::from_data(TensorData::new(x.clone(), [n, c, h, w]), &inference);
        let y_inference: Vec<f32> = max_pool2d(x_inference, options()).into_data().iter::<f32>().collect();
        let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        // Inference keeps only the maximum, found row maxima first: of a +0 and a -0 in one
        // window it may return either, so zeros compare by value; everything else (NaN
        // included) by bits.
        let value = |v: &[f32]| {
            bits(v)
                .into_iter()
                .map(|b| if b == (-0.0f32).to_bits() { 0 } else { b })
                .collect::<Vec<_>>()
        };
        assert_eq!(value(&y_inference), value(&y_ref), "inference values of {case:?}");
        let xt = Tensor::<4>::from_data(TensorData::new(x, [n, c, h, w]), &device).require_grad();
        let gt = Tensor::<4>::from_data(TensorData::new(g, [n, c, oh, ow]), &device);
        let y = max_pool2d(xt.clone(), options());
        let grads = (y.clone() * gt).sum().backward();
        let y: Vec<f32> = y.into_data().iter::<f32>().collect();
        let dx: Vec<f32> = xt
            .grad(&grads)
            .expect("input gradient")
            .into_data()
            .iter::<f32>()
            .collect();
        assert_eq!(bits(&y), bits(&y_ref), "values of {case:?}");
        for (i, (a, b)) in dx.iter().zip(&dx_ref).enumerate() {
            assert!((a - b).abs() <= 1e-6, "gradient of {case:?}, element {i}: {a} vs {b}");
        }
    }
}
