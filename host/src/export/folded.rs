//! The trained network with BatchNorm folded into its convolutions: the form both ONNX
//! graphs (fp32 and int8) are written from.
//!
//! Folding `y = gamma * (conv(x) - mean) / sqrt(var + eps) + beta` gives a plain convolution
//! with weights `w * s` and bias `beta - mean * s` (s = gamma / sqrt(var + eps)), so the edge
//! never evaluates BatchNorm. A small reference forward pass (naive loops, no dependencies)
//! lets tests check the ONNX graphs against an independent implementation.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shared::arch::{Architecture, ConvSpec, LayerKind, PoolSpec, Shape};

/// A convolution with its bias; ReLU always follows (as in the architecture).
#[derive(Debug, Clone, PartialEq)]
pub struct FoldedConv {
    /// Geometry from the architecture.
    pub spec: ConvSpec,
    /// Input channels.
    pub in_channels: usize,
    /// Weights, `[out, in, kh, kw]` row-major.
    pub weight: Vec<f32>,
    /// Bias, one per output channel.
    pub bias: Vec<f32>,
}

/// A fully connected layer.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldedDense {
    /// Input features.
    pub in_features: usize,
    /// Output features.
    pub out_features: usize,
    /// Weights, `[out, in]` row-major (ONNX Gemm with `transB = 1`).
    pub weight: Vec<f32>,
    /// Bias.
    pub bias: Vec<f32>,
    /// ReLU after the layer (false for the logits).
    pub relu: bool,
}

/// An Inception branch after folding.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldedBranch {
    /// Max-pool applied first, if any.
    pub pool: Option<PoolSpec>,
    /// Convolutions in order.
    pub convs: Vec<FoldedConv>,
}

/// One layer after folding; dropout is gone (inference only).
#[derive(Debug, Clone, PartialEq)]
pub enum FoldedLayer {
    /// Conv + bias + ReLU.
    Conv(FoldedConv),
    /// Max pooling.
    MaxPool(PoolSpec),
    /// Branches concatenated on channels.
    Inception(Vec<FoldedBranch>),
    /// NCHW to flat, channel-major.
    Flatten,
    /// Fully connected.
    Dense(FoldedDense),
}

/// A named folded layer.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedLayer {
    /// Name from the architecture (conv1, inception_a, fc1, ...).
    pub name: String,
    /// The layer.
    pub layer: FoldedLayer,
}

/// The whole folded network.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldedNetwork {
    /// Input channels, height, width.
    pub input_chw: [usize; 3],
    /// Layers in order.
    pub layers: Vec<NamedLayer>,
}

/// BatchNorm statistics and affine parameters of one convolution.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormParams<'a> {
    /// Scale.
    pub gamma: &'a [f32],
    /// Shift.
    pub beta: &'a [f32],
    /// Running mean.
    pub mean: &'a [f32],
    /// Running variance.
    pub var: &'a [f32],
    /// Epsilon.
    pub epsilon: f32,
}

/// Folds BatchNorm into a bias-free (or biased) convolution's weights `[out, in, kh, kw]`.
pub fn fold_batch_norm(weight: &[f32], bias: Option<&[f32]>, bn: &BatchNormParams<'_>) -> (Vec<f32>, Vec<f32>) {
    let out = bn.gamma.len();
    let per_out = weight.len() / out.max(1);
    let mut w = weight.to_vec();
    let mut b = vec![0f32; out];
    for o in 0..out {
        let s = bn.gamma[o] / (bn.var[o] + bn.epsilon).sqrt();
        w[o * per_out..(o + 1) * per_out].iter_mut().for_each(|v| *v *= s);
        let conv_bias = bias.map_or(0.0, |b| b[o]);
        b[o] = bn.beta[o] + (conv_bias - bn.mean[o]) * s;
    }
    (w, b)
}

impl FoldedNetwork {
    /// A network with He-initialised random weights and small random biases, for tests of
    /// the exporters that must not depend on training.
    pub fn random(arch: &Architecture, seed: u64) -> Result<Self, shared::arch::ArchError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let Shape::Spatial { c, h, w } = arch.input else {
            return Err(shared::arch::ArchError::WrongRank {
                layer: "input".into(),
                expected: "spatial",
                got: arch.input,
            });
        };
        let random_conv = |rng: &mut ChaCha8Rng, spec: &ConvSpec, in_channels: usize| {
            let fan_in = (in_channels * spec.kernel[0] * spec.kernel[1]) as f32;
            let bound = (6.0 / fan_in).sqrt();
            let n = spec.out_channels * in_channels * spec.kernel[0] * spec.kernel[1];
            FoldedConv {
                spec: *spec,
                in_channels,
                weight: (0..n).map(|_| rng.random_range(-bound..bound)).collect(),
                bias: (0..spec.out_channels).map(|_| rng.random_range(-0.1..0.1)).collect(),
            }
        };
        let mut layers = Vec::new();
        let mut shape = arch.input;
        for layer in &arch.layers {
            let channels = match shape {
                Shape::Spatial { c, .. } => c,
                Shape::Flat(n) => n,
            };
            let folded = match &layer.kind {
                LayerKind::Conv(spec) => FoldedLayer::Conv(random_conv(&mut rng, spec, channels)),
                LayerKind::MaxPool(p) => FoldedLayer::MaxPool(*p),
                LayerKind::Inception(branches) => FoldedLayer::Inception(
                    branches
                        .iter()
                        .map(|b| FoldedBranch {
                            pool: b.pool,
                            convs: b
                                .convs_with_inputs(channels)
                                .map(|(spec, c)| random_conv(&mut rng, spec, c))
                                .collect(),
                        })
                        .collect(),
                ),
                LayerKind::Flatten => FoldedLayer::Flatten,
                LayerKind::Dense { units, relu } => {
                    let bound = (6.0 / channels as f32).sqrt();
                    FoldedLayer::Dense(FoldedDense {
                        in_features: channels,
                        out_features: *units,
                        weight: (0..units * channels).map(|_| rng.random_range(-bound..bound)).collect(),
                        bias: (0..*units).map(|_| rng.random_range(-0.1..0.1)).collect(),
                        relu: *relu,
                    })
                }
            };
            layers.push(NamedLayer {
                name: layer.name.clone(),
                layer: folded,
            });
            shape = layer.kind.infer(&layer.name, shape)?.0;
        }
        Ok(FoldedNetwork {
            input_chw: [c, h, w],
            layers,
        })
    }

    /// Number of output classes.
    pub fn num_classes(&self) -> usize {
        self.layers
            .iter()
            .rev()
            .find_map(|l| match &l.layer {
                FoldedLayer::Dense(d) => Some(d.out_features),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// Reference forward pass of one image (`c*h*w` values): the logits. Slow and simple on
    /// purpose; used only to check the exported graphs.
    pub fn reference_logits(&self, input: &[f32]) -> Vec<f32> {
        let [c, h, w] = self.input_chw;
        let mut x = Activation {
            c,
            h,
            w,
            data: input.to_vec(),
        };
        for layer in &self.layers {
            x = match &layer.layer {
                FoldedLayer::Conv(conv) => conv2d(&x, conv),
                FoldedLayer::MaxPool(p) => max_pool(&x, p),
                FoldedLayer::Inception(branches) => {
                    let outs: Vec<Activation> = branches
                        .iter()
                        .map(|b| {
                            let mut y = match &b.pool {
                                Some(p) => max_pool(&x, p),
                                None => x.clone(),
                            };
                            for conv in &b.convs {
                                y = conv2d(&y, conv);
                            }
                            y
                        })
                        .collect();
                    let (h, w) = (outs[0].h, outs[0].w);
                    let data = outs.iter().flat_map(|o| o.data.iter().copied()).collect();
                    Activation {
                        c: outs.iter().map(|o| o.c).sum(),
                        h,
                        w,
                        data,
                    }
                }
                FoldedLayer::Flatten => Activation {
                    c: x.data.len(),
                    h: 1,
                    w: 1,
                    data: x.data,
                },
                FoldedLayer::Dense(d) => {
                    let data = (0..d.out_features)
                        .map(|o| {
                            let row = &d.weight[o * d.in_features..(o + 1) * d.in_features];
                            let v = d.bias[o] + row.iter().zip(&x.data).map(|(a, b)| a * b).sum::<f32>();
                            if d.relu { v.max(0.0) } else { v }
                        })
                        .collect();
                    Activation {
                        c: d.out_features,
                        h: 1,
                        w: 1,
                        data,
                    }
                }
            };
        }
        x.data
    }
}

#[derive(Clone)]
struct Activation {
    c: usize,
    h: usize,
    w: usize,
    data: Vec<f32>,
}

fn out_len(len: usize, k: usize, s: usize, p: usize) -> usize {
    (len + 2 * p - k) / s + 1
}

fn conv2d(x: &Activation, conv: &FoldedConv) -> Activation {
    let [kh, kw] = conv.spec.kernel;
    let [sh, sw] = conv.spec.stride;
    let [ph, pw] = conv.spec.padding;
    let (oh, ow) = (out_len(x.h, kh, sh, ph), out_len(x.w, kw, sw, pw));
    let oc = conv.spec.out_channels;
    let mut data = vec![0f32; oc * oh * ow];
    for o in 0..oc {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = conv.bias[o];
                for i in 0..x.c {
                    for ky in 0..kh {
                        let iy = (oy * sh + ky) as isize - ph as isize;
                        if iy < 0 || iy >= x.h as isize {
                            continue;
                        }
                        for kx in 0..kw {
                            let ix = (ox * sw + kx) as isize - pw as isize;
                            if ix < 0 || ix >= x.w as isize {
                                continue;
                            }
                            let wv = conv.weight[((o * x.c + i) * kh + ky) * kw + kx];
                            acc += wv * x.data[(i * x.h + iy as usize) * x.w + ix as usize];
                        }
                    }
                }
                data[(o * oh + oy) * ow + ox] = acc.max(0.0);
            }
        }
    }
    Activation {
        c: oc,
        h: oh,
        w: ow,
        data,
    }
}

fn max_pool(x: &Activation, p: &PoolSpec) -> Activation {
    let [kh, kw] = p.kernel;
    let [sh, sw] = p.stride;
    let [ph, pw] = p.padding;
    let (oh, ow) = (out_len(x.h, kh, sh, ph), out_len(x.w, kw, sw, pw));
    let mut data = vec![f32::NEG_INFINITY; x.c * oh * ow];
    for c in 0..x.c {
        for oy in 0..oh {
            for ox in 0..ow {
                let slot = &mut data[(c * oh + oy) * ow + ox];
                for ky in 0..kh {
                    let iy = (oy * sh + ky) as isize - ph as isize;
                    for kx in 0..kw {
                        let ix = (ox * sw + kx) as isize - pw as isize;
                        if iy >= 0 && ix >= 0 && (iy as usize) < x.h && (ix as usize) < x.w {
                            *slot = slot.max(x.data[(c * x.h + iy as usize) * x.w + ix as usize]);
                        }
                    }
                }
            }
        }
    }
    Activation {
        c: x.c,
        h: oh,
        w: ow,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_matches_batch_norm_arithmetic() {
        // One output channel, one input, 1x1 kernel: y = gamma * (w*x - mean)/sqrt(var+eps) + beta.
        let bn = BatchNormParams {
            gamma: &[2.0],
            beta: &[0.5],
            mean: &[1.0],
            var: &[3.0],
            epsilon: 1.0,
        };
        let (w, b) = fold_batch_norm(&[3.0], None, &bn);
        let x = 4.0f32;
        let expected = 2.0 * (3.0 * x - 1.0) / 2.0 + 0.5;
        assert!((w[0] * x + b[0] - expected).abs() < 1e-6);
    }

    #[test]
    fn random_network_has_paper_shapes_and_runs() {
        let arch = Architecture::paper(7);
        let net = FoldedNetwork::random(&arch, 1).unwrap();
        assert_eq!(net.num_classes(), 7);
        let params: usize = net
            .layers
            .iter()
            .map(|l| match &l.layer {
                FoldedLayer::Conv(c) => c.weight.len(),
                FoldedLayer::Inception(bs) => bs.iter().flat_map(|b| &b.convs).map(|c| c.weight.len()).sum(),
                FoldedLayer::Dense(d) => d.weight.len(),
                _ => 0,
            })
            .sum();
        assert!(params > 5_000_000, "{params}");
        let logits = net.reference_logits(&vec![0.5; 48 * 48]);
        assert_eq!(logits.len(), 7);
        assert!(logits.iter().all(|v| v.is_finite()));
    }
}
