//! The training convolution (burn on the flex backend, with the im2col + matrix-product
//! forward and gradients of `vendor/burn-flex/src/ops/conv2d_gemm.rs`) against the
//! definition: forward values with a bias, input, weight and bias gradients, on random shapes
//! with the strides, paddings and 1x3 / 3x1 kernels of the paper's network, plus dilation,
//! groups, asymmetric padding and a batch of one (products parallel inside, not over images),
//! and 3x3 stride-1 convolutions wide enough for the Winograd forward (16 or more input
//! channels) or input gradient (16 or more output channels).

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};

mod common;
use common::{assert_close, random};

/// Largest difference allowed, relative to the reference's magnitude.
const TOLERANCE: f64 = 1e-4;

/// One convolution problem; `padding` is (begin, end) per dimension.
#[derive(Debug, Clone, Copy)]
struct Case {
    batch: usize,
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [(usize, usize); 2],
    dilation: [usize; 2],
    groups: usize,
}

impl Case {
    fn out(&self) -> [usize; 2] {
        let size = |i: usize, n: usize| {
            (n + self.padding[i].0 + self.padding[i].1 - self.dilation[i] * (self.kernel[i] - 1) - 1) / self.stride[i]
                + 1
        };
        [size(0, self.h), size(1, self.w)]
    }

    /// The input pixel that kernel tap (ki, kj) of output (oi, oj) reads, if inside the image.
    fn tap(&self, oi: usize, oj: usize, ki: usize, kj: usize) -> Option<(usize, usize)> {
        let i = (oi * self.stride[0] + ki * self.dilation[0]).checked_sub(self.padding[0].0)?;
        let j = (oj * self.stride[1] + kj * self.dilation[1]).checked_sub(self.padding[1].0)?;
        (i < self.h && j < self.w).then_some((i, j))
    }

    /// Forward output, input gradient and weight gradient of `sum(conv(x, w) * g)` by the
    /// definition, in f64 (without the bias).
    fn reference(&self, x: &[f32], wt: &[f32], g: &[f32]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let [oh, ow] = self.out();
        let [kh, kw] = self.kernel;
        let (in_pg, out_pg) = (self.c_in / self.groups, self.c_out / self.groups);
        let x_at = |b: usize, c: usize, i: usize, j: usize| ((b * self.c_in + c) * self.h + i) * self.w + j;
        let w_at = |o: usize, c: usize, ki: usize, kj: usize| ((o * in_pg + c) * kh + ki) * kw + kj;
        let mut y = vec![0.0; self.batch * self.c_out * oh * ow];
        let mut dx = vec![0.0; x.len()];
        let mut dw = vec![0.0; wt.len()];
        for b in 0..self.batch {
            for o in 0..self.c_out {
                let group = o / out_pg;
                for oi in 0..oh {
                    for oj in 0..ow {
                        let yi = ((b * self.c_out + o) * oh + oi) * ow + oj;
                        for c in 0..in_pg {
                            for ki in 0..kh {
                                for kj in 0..kw {
                                    let Some((i, j)) = self.tap(oi, oj, ki, kj) else {
                                        continue;
                                    };
                                    let (xi, wi) = (x_at(b, group * in_pg + c, i, j), w_at(o, c, ki, kj));
                                    y[yi] += f64::from(x[xi]) * f64::from(wt[wi]);
                                    dx[xi] += f64::from(g[yi]) * f64::from(wt[wi]);
                                    dw[wi] += f64::from(g[yi]) * f64::from(x[xi]);
                                }
                            }
                        }
                    }
                }
            }
        }
        (y, dx, dw)
    }
}

#[test]
fn convolution_values_and_gradients_match_the_definition() {
    let case = |batch, c_in, h, w, c_out, kernel, stride, padding: [usize; 2]| Case {
        batch,
        c_in,
        h,
        w,
        c_out,
        kernel,
        stride,
        padding: padding.map(|p| (p, p)),
        dilation: [1, 1],
        groups: 1,
    };
    let mut cases = vec![
        case(3, 1, 12, 12, 4, [3, 3], [1, 1], [1, 1]), // conv1: one input channel
        case(2, 5, 10, 9, 6, [3, 3], [1, 1], [1, 1]),  // conv2 / inception 3x3
        case(2, 6, 11, 11, 4, [3, 3], [2, 2], [1, 1]), // stride-2 3x3 with padding
        case(3, 4, 9, 9, 5, [3, 3], [2, 2], [0, 0]),   // stride-2 "valid"
        case(2, 7, 8, 8, 3, [1, 1], [1, 1], [0, 0]),   // pointwise
        case(2, 7, 9, 9, 3, [1, 1], [2, 2], [0, 0]),   // pointwise, stride 2
        case(2, 4, 7, 8, 5, [1, 3], [1, 1], [0, 1]),   // 1x3
        case(2, 4, 8, 7, 5, [3, 1], [1, 1], [1, 0]),   // 3x1
        case(2, 4, 9, 9, 5, [3, 1], [2, 2], [1, 0]),   // 3x1, stride 2
        case(2, 4, 9, 9, 5, [1, 3], [2, 2], [0, 1]),   // 1x3, stride 2
        case(1, 5, 10, 9, 6, [3, 3], [1, 1], [1, 1]),  // one image
        case(1, 7, 8, 8, 3, [1, 1], [1, 1], [0, 0]),   // one image, pointwise
        // 3x3 stride 1 with 16 or more input channels: the forward is Winograd's F(2x2, 3x3).
        case(3, 32, 12, 12, 8, [3, 3], [1, 1], [1, 1]), // even output
        case(2, 16, 10, 9, 6, [3, 3], [1, 1], [1, 1]),  // odd output width
        case(2, 20, 7, 8, 5, [3, 3], [1, 1], [0, 0]),   // "valid": 5x6 output
        case(2, 16, 6, 6, 4, [3, 3], [1, 1], [2, 2]),   // tiles deep in the padding
        case(1, 16, 2, 3, 3, [3, 3], [1, 1], [1, 1]),   // one image, smaller than a tile
        // 3x3 stride 1 with 16 or more output channels: the input gradient is Winograd's.
        case(2, 5, 10, 9, 16, [3, 3], [1, 1], [1, 1]), // narrow input, odd width
        case(2, 16, 7, 8, 20, [3, 3], [1, 1], [0, 0]), // "valid": gradient padded by 2
        case(2, 3, 5, 6, 16, [3, 3], [1, 1], [2, 2]),  // padded by 2: gradient unpadded
        case(1, 24, 2, 4, 16, [3, 3], [1, 1], [1, 1]), // one image, one row of tiles
        case(2, 16, 9, 7, 16, [3, 3], [1, 1], [1, 1]), // both paths, odd output
        // im2col larger than the weight gradient's block: its rows go in blocks.
        case(2, 16, 40, 37, 4, [3, 3], [1, 1], [1, 1]), // blocks of 24 and 16 rows
        case(2, 48, 41, 41, 4, [3, 3], [2, 2], [1, 1]), // stride 2: 14 and 7 rows
    ];
    cases.push(Case {
        dilation: [2, 1],
        ..case(2, 3, 10, 9, 4, [3, 3], [1, 2], [2, 1])
    });
    // Stride 1 with outputs as wide as the input: im2col copies whole planes at a shift.
    cases.push(Case {
        dilation: [2, 2],
        ..case(2, 3, 9, 8, 4, [3, 3], [1, 1], [2, 2])
    });
    cases.push(Case {
        dilation: [1, 3],
        ..case(2, 4, 5, 7, 3, [1, 3], [1, 1], [0, 3])
    });
    cases.push(case(2, 4, 5, 1, 3, [1, 3], [1, 1], [0, 1])); // one column: only the centre is in
    cases.push(case(2, 4, 1, 6, 3, [3, 1], [1, 1], [1, 0])); // one row
    cases.push(Case {
        groups: 2,
        ..case(2, 4, 6, 6, 6, [3, 3], [1, 1], [1, 1])
    });
    cases.push(Case {
        groups: 2,
        ..case(2, 32, 40, 37, 4, [3, 3], [1, 1], [1, 1])
    });
    cases.push(Case {
        padding: [(0, 1), (1, 0)],
        ..case(2, 16, 7, 6, 4, [3, 3], [1, 1], [0, 0])
    });
    cases.push(Case {
        padding: [(0, 1), (2, 0)],
        ..case(2, 3, 7, 7, 2, [3, 3], [2, 1], [0, 0])
    });

    let device = Device::flex().autodiff();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for c in cases {
        let [oh, ow] = c.out();
        let x = random(c.batch * c.c_in * c.h * c.w, &mut seed);
        let wt = random(c.c_out * (c.c_in / c.groups) * c.kernel[0] * c.kernel[1], &mut seed);
        let g = random(c.batch * c.c_out * oh * ow, &mut seed);
        let bias = random(c.c_out, &mut seed);
        let (mut y_ref, dx_ref, dw_ref) = c.reference(&x, &wt, &g);
        let plane = oh * ow;
        for (i, y) in y_ref.iter_mut().enumerate() {
            *y += f64::from(bias[i / plane % c.c_out]);
        }
        let mut db_ref = vec![0.0; c.c_out];
        for (i, v) in g.iter().enumerate() {
            db_ref[i / plane % c.c_out] += f64::from(*v);
        }

        let tensor = |v: Vec<f32>, shape: [usize; 4]| Tensor::<4>::from_data(TensorData::new(v, shape), &device);
        let xt = tensor(x, [c.batch, c.c_in, c.h, c.w]).require_grad();
        let wt = tensor(wt, [c.c_out, c.c_in / c.groups, c.kernel[0], c.kernel[1]]).require_grad();
        let gt = tensor(g, [c.batch, c.c_out, oh, ow]);
        let bt = Tensor::<1>::from_data(TensorData::new(bias, [c.c_out]), &device).require_grad();
        let options = ConvOptions::new_with_padding(c.stride, c.padding, c.dilation, c.groups);
        let y = conv2d(xt.clone(), wt.clone(), Some(bt.clone()), options);
        let grads = (y.clone() * gt).sum().backward();
        assert_close("output", &c, y, &y_ref, TOLERANCE);
        assert_close(
            "input gradient",
            &c,
            xt.grad(&grads).expect("input gradient"),
            &dx_ref,
            TOLERANCE,
        );
        assert_close(
            "weight gradient",
            &c,
            wt.grad(&grads).expect("weight gradient"),
            &dw_ref,
            TOLERANCE,
        );
        assert_close(
            "bias gradient",
            &c,
            bt.grad(&grads).expect("bias gradient"),
            &db_ref,
            TOLERANCE,
        );
    }
}
