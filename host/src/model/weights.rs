//! Trained weights as plain vectors, in spec order, for the ONNX exporter.
//!
//! Why plain `Vec<f32>`s: the exporter (and its tests) should not depend on burn's module tree
//! or device types; they walk the same [`Architecture`] and pick each layer's tensors from
//! here. Layouts are fixed and documented on each field; [`NetworkWeights::fold`] turns them
//! into the exporter's BatchNorm-folded [`FoldedNetwork`]; [`Network::unfold`] goes back, from
//! a folded network (one read back from a shipped int8 model) to a trainable one.

use std::collections::HashMap;

use burn::module::{Module, Param, RunningState};
use burn::nn::BatchNorm;
use burn::tensor::{Device, Tensor, TensorData};
use shared::arch::{Architecture, ConvSpec, PoolSpec};

use super::ModelError;
use super::network::{Block, ConvBnRelu, Network};
use crate::export::calibrate::ChannelMoments;
use crate::export::float_graph::{branch_conv_name, pre_activation};
use crate::export::folded::{
    BatchNormParams, FoldedBranch, FoldedConv, FoldedDense, FoldedLayer, FoldedNetwork, NamedLayer, fold_batch_norm,
};

/// BatchNorm of one convolution: `y = gamma * (x - running_mean) / sqrt(running_var + epsilon)
/// + beta` at inference.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormWeights {
    /// Scale, one per channel.
    pub gamma: Vec<f32>,
    /// Shift, one per channel.
    pub beta: Vec<f32>,
    /// Running mean, one per channel.
    pub running_mean: Vec<f32>,
    /// Running variance, one per channel.
    pub running_var: Vec<f32>,
    /// Added to the variance.
    pub epsilon: f32,
}

/// One convolution with its BatchNorm.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvWeights {
    /// Geometry from the architecture.
    pub spec: ConvSpec,
    /// Input channels.
    pub in_channels: usize,
    /// Weights, `[out, in, kh, kw]` row-major (burn's and ONNX's layout).
    pub weight: Vec<f32>,
    /// Bias, when the spec has no BatchNorm.
    pub bias: Option<Vec<f32>>,
    /// BatchNorm, when the spec has one.
    pub batch_norm: Option<BatchNormWeights>,
}

/// One Inception branch.
#[derive(Debug, Clone, PartialEq)]
pub struct BranchWeights {
    /// Max-pool applied first.
    pub pool: Option<PoolSpec>,
    /// Convolutions in order.
    pub convs: Vec<ConvWeights>,
}

/// A fully connected layer.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseWeights {
    /// Input features.
    pub in_features: usize,
    /// Output features.
    pub out_features: usize,
    /// Weights, `[in, out]` row-major: burn's layout, `y = x W + b` (ONNX Gemm with
    /// `transB = 0`; [`NetworkWeights::fold`] transposes to `[out, in]`).
    pub weight: Vec<f32>,
    /// Bias, one per output.
    pub bias: Vec<f32>,
    /// ReLU after the layer (false for the logits).
    pub relu: bool,
}

/// The weights of one spec layer.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerWeightsKind {
    /// Conv + BN + ReLU.
    Conv(ConvWeights),
    /// Max pooling (no weights).
    MaxPool(PoolSpec),
    /// Branches in spec order.
    Inception(Vec<BranchWeights>),
    /// Flatten (no weights).
    Flatten,
    /// Fully connected.
    Dense(DenseWeights),
}

/// A named layer's weights.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerWeights {
    /// Layer name from the architecture.
    pub name: String,
    /// Its weights.
    pub kind: LayerWeightsKind,
}

/// Every weight of a [`Network`], per spec layer in order.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkWeights {
    /// Input channels, height, width.
    pub input_chw: [usize; 3],
    /// Layers in spec order.
    pub layers: Vec<LayerWeights>,
}

/// A tensor's values as `f32` (converted if the tensor holds another float type).
fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

fn param<const D: usize>(p: &Param<Tensor<D>>) -> Vec<f32> {
    values(p.val())
}

fn batch_norm_weights(bn: &BatchNorm) -> BatchNormWeights {
    BatchNormWeights {
        gamma: param(&bn.gamma),
        beta: param(&bn.beta),
        running_mean: values(bn.running_mean.value()),
        running_var: values(bn.running_var.value()),
        epsilon: bn.epsilon as f32,
    }
}

impl BatchNormWeights {
    /// The form [`fold_batch_norm`] takes.
    fn params(&self) -> BatchNormParams<'_> {
        BatchNormParams {
            gamma: &self.gamma,
            beta: &self.beta,
            mean: &self.running_mean,
            var: &self.running_var,
            epsilon: self.epsilon,
        }
    }
}

fn conv_weights(c: &ConvBnRelu, spec: &ConvSpec, in_channels: usize) -> ConvWeights {
    let batch_norm = c.bn.as_ref().map(batch_norm_weights);
    ConvWeights {
        spec: *spec,
        in_channels,
        weight: param(&c.conv.weight),
        bias: c.conv.bias.as_ref().map(param),
        batch_norm,
    }
}

impl Network {
    /// The inference network with every BatchNorm folded into its convolution (weights
    /// `w * s`, bias `beta - mean * s`, `s = gamma / sqrt(var + eps)`, as the exporter folds
    /// them): the function of [`Module::valid`] up to float rounding, without a BatchNorm
    /// pass after each convolution. For inference only: its convolutions are what training
    /// would have to learn through the BatchNorm.
    pub fn folded(&self) -> Network {
        let mut model = self.valid();
        let device = model.device();
        let fold = |c: &mut ConvBnRelu| {
            let Some(bn) = c.bn.take() else { return };
            let dims = c.conv.weight.lazy_shape().dims::<4>();
            let (weight, bias) = fold_batch_norm(
                &param(&c.conv.weight),
                c.conv.bias.as_ref().map(param).as_deref(),
                &batch_norm_weights(&bn).params(),
            );
            c.conv.weight = Param::from_tensor(Tensor::from_data(TensorData::new(weight, dims), &device));
            c.conv.bias = Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(bias, [dims[0]]),
                &device,
            )));
        };
        for layer in &mut model.layers {
            match &mut layer.block {
                Block::Conv(c) => fold(c),
                Block::Inception(i) => i.branches.iter_mut().flat_map(|b| &mut b.convs).for_each(fold),
                Block::MaxPool(_) | Block::Flatten(_) | Block::Dense(_) => {}
            }
        }
        model
    }
}

impl Network {
    /// All weights as plain vectors, per spec layer / branch / conv in spec order.
    pub fn export_weights(&self) -> NetworkWeights {
        let model = self.valid();
        let arch = &model.arch;
        // `Network::new` accepted only spatial inputs whose shapes infer.
        let shared::arch::Shape::Spatial { h, w, c } = arch.input else {
            unreachable!("Network::new checked the input is spatial")
        };
        let summary = arch.summary().unwrap_or_default();
        let mut in_shape = arch.input;
        let mut layers = Vec::with_capacity(arch.layers.len());
        for ((layer, block), out) in arch.layers.iter().zip(&model.layers).zip(&summary) {
            let channels = match in_shape {
                shared::arch::Shape::Spatial { c, .. } => c,
                shared::arch::Shape::Flat(n) => n,
            };
            let kind = match (&layer.kind, &block.block) {
                (shared::arch::LayerKind::Conv(spec), Block::Conv(conv)) => {
                    LayerWeightsKind::Conv(conv_weights(conv, spec, channels))
                }
                (shared::arch::LayerKind::MaxPool(p), Block::MaxPool(_)) => LayerWeightsKind::MaxPool(*p),
                (shared::arch::LayerKind::Inception(specs), Block::Inception(inc)) => {
                    let mut branches = Vec::with_capacity(specs.len());
                    for (spec, branch) in specs.iter().zip(&inc.branches) {
                        let convs = (spec.convs_with_inputs(channels).zip(&branch.convs))
                            .map(|((cs, c_in), conv)| conv_weights(conv, cs, c_in))
                            .collect();
                        branches.push(BranchWeights { pool: spec.pool, convs });
                    }
                    LayerWeightsKind::Inception(branches)
                }
                (shared::arch::LayerKind::Flatten, Block::Flatten(_)) => LayerWeightsKind::Flatten,
                (shared::arch::LayerKind::Dense { units, relu }, Block::Dense(d)) => {
                    LayerWeightsKind::Dense(DenseWeights {
                        in_features: channels,
                        out_features: *units,
                        weight: param(&d.linear.weight),
                        bias: match &d.linear.bias {
                            Some(b) => param(b),
                            None => vec![0.0; *units],
                        },
                        relu: *relu,
                    })
                }
                // The module tree is private and built from `arch` by `Network::new`.
                _ => unreachable!("layer {}: module built from another architecture", layer.name),
            };
            layers.push(LayerWeights {
                name: layer.name.clone(),
                kind,
            });
            in_shape = out.output;
        }
        NetworkWeights {
            input_chw: [c, h, w],
            layers,
        }
    }
}

fn fold_conv(c: &ConvWeights) -> FoldedConv {
    let (weight, bias) = match &c.batch_norm {
        Some(bn) => fold_batch_norm(&c.weight, c.bias.as_deref(), &bn.params()),
        None => (
            c.weight.clone(),
            c.bias.clone().unwrap_or_else(|| vec![0.0; c.spec.out_channels]),
        ),
    };
    FoldedConv {
        spec: c.spec,
        in_channels: c.in_channels,
        weight,
        bias,
    }
}

/// The row-major `cols x rows` transpose of the row-major `rows x cols` matrix `m`: dense
/// weights between burn's `[in, out]` and the exporter's `[out, in]`.
fn transposed(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

impl NetworkWeights {
    /// BatchNorm folded into the convolutions and dense weights transposed to `[out, in]`: the
    /// form [`crate::export`] writes ONNX graphs from.
    pub fn fold(&self) -> FoldedNetwork {
        let layers = self
            .layers
            .iter()
            .map(|l| {
                let layer = match &l.kind {
                    LayerWeightsKind::Conv(c) => FoldedLayer::Conv(fold_conv(c)),
                    LayerWeightsKind::MaxPool(p) => FoldedLayer::MaxPool(*p),
                    LayerWeightsKind::Inception(bs) => FoldedLayer::Inception(
                        bs.iter()
                            .map(|b| FoldedBranch {
                                pool: b.pool,
                                convs: b.convs.iter().map(fold_conv).collect(),
                            })
                            .collect(),
                    ),
                    LayerWeightsKind::Flatten => FoldedLayer::Flatten,
                    LayerWeightsKind::Dense(d) => {
                        let weight = transposed(&d.weight, d.in_features, d.out_features);
                        FoldedLayer::Dense(FoldedDense {
                            in_features: d.in_features,
                            out_features: d.out_features,
                            weight,
                            bias: d.bias.clone(),
                            relu: d.relu,
                        })
                    }
                };
                NamedLayer {
                    name: l.name.clone(),
                    layer,
                }
            })
            .collect();
        FoldedNetwork {
            input_chw: self.input_chw,
            layers,
        }
    }
}

/// A tensor of `dims` from plain values on `device`.
fn tensor<const D: usize>(values: &[f32], dims: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values.to_vec(), dims), device)
}

/// Sets one convolution (and its BatchNorm) to compute the folded convolution `folded`.
fn unfold_conv(
    c: &mut ConvBnRelu,
    folded: &FoldedConv,
    name: &str,
    moments: &HashMap<String, ChannelMoments>,
    device: &Device,
) -> Result<(), ModelError> {
    let dims = c.conv.weight.lazy_shape().dims::<4>();
    let expected = [
        folded.spec.out_channels,
        folded.in_channels,
        folded.spec.kernel[0],
        folded.spec.kernel[1],
    ];
    if dims != expected || folded.weight.len() != dims.iter().product::<usize>() || folded.bias.len() != dims[0] {
        return Err(ModelError::Unsupported(format!(
            "{name}: folded weights {expected:?} for a convolution of {dims:?}"
        )));
    }
    c.conv.weight = Param::from_tensor(tensor(&folded.weight, dims, device));
    match (&mut c.bn, &mut c.conv.bias) {
        (None, Some(bias)) => *bias = Param::from_tensor(tensor(&folded.bias, [dims[0]], device)),
        (Some(bn), None) => {
            let key = pre_activation(name);
            let m = moments
                .get(&key)
                .filter(|m| m.mean.len() == dims[0] && m.var.len() == dims[0])
                .ok_or_else(|| ModelError::Unsupported(format!("{name}: no channel statistics for {key}")))?;
            let eps = bn.epsilon as f32;
            let gamma: Vec<f32> = m.var.iter().map(|v| (v + eps).sqrt()).collect();
            let running_mean: Vec<f32> = m.mean.iter().zip(&folded.bias).map(|(mean, b)| mean - b).collect();
            bn.gamma = Param::from_tensor(tensor(&gamma, [dims[0]], device));
            bn.beta = Param::from_tensor(tensor(&m.mean, [dims[0]], device));
            bn.running_mean = RunningState::new(tensor(&running_mean, [dims[0]], device));
            bn.running_var = RunningState::new(tensor(&m.var, [dims[0]], device));
        }
        _ => {
            return Err(ModelError::Unsupported(format!(
                "{name}: a convolution needs exactly one of a bias and a BatchNorm"
            )));
        }
    }
    Ok(())
}

impl Network {
    /// A trainable network computing the folded network `folded` (e.g. one read back from an
    /// int8 model by [`crate::export::read_back`]).
    ///
    /// Each BatchNorm is re-expanded so that it passes its folded convolution's output `y`
    /// through unchanged: `gamma = sqrt(var + eps)`, `beta = mean`, running mean `mean -
    /// bias`, running variance `var`, where `mean` and `var` are `y`'s per-channel moments
    /// over training images (`moments`, keyed by [`pre_activation`] names) and `bias` the
    /// folded bias. With running statistics that is exact; with batch statistics (training)
    /// it is exact up to how far a batch's moments stray from `moments`, so training starts
    /// from the folded network's function rather than from a rescaled one.
    pub fn unfold(
        arch: &Architecture,
        folded: &FoldedNetwork,
        moments: &HashMap<String, ChannelMoments>,
        device: &Device,
    ) -> Result<Network, ModelError> {
        let mut model = Network::new(arch, device)?;
        if model.layers.len() != folded.layers.len() {
            return Err(ModelError::Unsupported(format!(
                "{} folded layers for an architecture of {}",
                folded.layers.len(),
                model.layers.len()
            )));
        }
        for (layer, named) in model.layers.iter_mut().zip(&folded.layers) {
            let name = named.name.as_str();
            match (&mut layer.block, &named.layer) {
                (Block::Conv(c), FoldedLayer::Conv(f)) => unfold_conv(c, f, name, moments, device)?,
                (Block::Inception(inc), FoldedLayer::Inception(branches)) if inc.branches.len() == branches.len() => {
                    for (bi, (branch, fb)) in inc.branches.iter_mut().zip(branches).enumerate() {
                        if branch.convs.len() != fb.convs.len() {
                            return Err(ModelError::Unsupported(format!("{name}: branch {bi} differs")));
                        }
                        for (ci, (c, f)) in branch.convs.iter_mut().zip(&fb.convs).enumerate() {
                            unfold_conv(c, f, &branch_conv_name(name, bi, ci), moments, device)?;
                        }
                    }
                }
                (Block::Dense(d), FoldedLayer::Dense(f)) => {
                    let dims = d.linear.weight.lazy_shape().dims::<2>();
                    if dims != [f.in_features, f.out_features] || f.weight.len() != f.in_features * f.out_features {
                        return Err(ModelError::Unsupported(format!(
                            "{name}: folded dense {}x{} for a layer of {dims:?}",
                            f.out_features, f.in_features
                        )));
                    }
                    // Folded `[out, in]` back to burn's `[in, out]`.
                    let weight = transposed(&f.weight, f.out_features, f.in_features);
                    d.linear.weight = Param::from_tensor(tensor(&weight, dims, device));
                    d.linear.bias = Some(Param::from_tensor(tensor(&f.bias, [f.out_features], device)));
                }
                (Block::MaxPool(_), FoldedLayer::MaxPool(_)) | (Block::Flatten(_), FoldedLayer::Flatten) => {}
                _ => return Err(ModelError::Unsupported(format!("{name}: folded layer of another kind"))),
            }
        }
        Ok(model)
    }
}
