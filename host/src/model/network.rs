//! burn modules for each kind of [`LayerKind`] and the network that strings them together.
//!
//! The module tree mirrors the spec one to one (layer -> branch -> conv), so the weight export
//! and checkpoint paths (`layers.3.block...`) follow the spec order. BatchNorm running
//! statistics are burn `RunningState`s: they are saved in checkpoints and exported, but are not
//! trainable parameters (see [`Network::trainable_params`]).

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Identity, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shared::arch::{Architecture, ConvSpec, LayerKind, PoolSpec, Shape};

use super::ModelError;

/// Convolution, then BatchNorm (when the spec asks for it; otherwise the conv has a bias),
/// then ReLU.
#[derive(Module, Debug)]
pub struct ConvBnRelu {
    /// The convolution, `[out, in, kh, kw]` weights.
    pub conv: Conv2d,
    /// BatchNorm after the convolution.
    pub bn: Option<BatchNorm>,
}

/// The burn convolution of `spec` over `in_channels` inputs (a bias only without BatchNorm).
pub fn conv2d(spec: &ConvSpec, in_channels: usize, device: &Device) -> Conv2d {
    let [ph, pw] = spec.padding;
    Conv2dConfig::new([in_channels, spec.out_channels], spec.kernel)
        .with_stride(spec.stride)
        .with_padding(PaddingConfig2d::Explicit(ph, pw, ph, pw))
        .with_bias(!spec.batch_norm)
        .init(device)
}

impl ConvBnRelu {
    fn new(spec: &ConvSpec, in_channels: usize, device: &Device) -> Self {
        let conv = conv2d(spec, in_channels, device);
        let bn = spec
            .batch_norm
            .then(|| BatchNormConfig::new(spec.out_channels).init(device));
        Self { conv, bn }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.conv.forward(x);
        let x = match &self.bn {
            Some(bn) => bn.forward(x),
            None => x,
        };
        relu(x)
    }
}

/// One Inception branch: optional max-pool, then a chain of convolutions.
#[derive(Module, Debug)]
pub struct InceptionBranch {
    /// Pool applied to the block input first.
    pub pool: Option<MaxPool2d>,
    /// Convolutions in order.
    pub convs: Vec<ConvBnRelu>,
}

/// Parallel branches concatenated along channels.
#[derive(Module, Debug)]
pub struct Inception {
    /// Branches in spec order (their outputs are concatenated in this order).
    pub branches: Vec<InceptionBranch>,
}

impl Inception {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let outs = self
            .branches
            .iter()
            .map(|b| {
                let mut y = match &b.pool {
                    Some(p) => p.forward(x.clone()),
                    None => x.clone(),
                };
                for conv in &b.convs {
                    y = conv.forward(y);
                }
                y
            })
            .collect();
        Tensor::cat(outs, 1)
    }
}

/// A fully connected layer; `relu` false gives logits.
#[derive(Module, Debug)]
pub struct Dense {
    /// burn's linear layer: weight `[in, out]`, `y = x W + b`.
    pub linear: Linear,
    /// ReLU after the layer.
    pub relu: bool,
}

/// What one spec layer is, as burn modules.
// One `Block` per spec layer (ten of them): the size difference between variants costs
// nothing, and burn's `Module` derive does not support boxing the large one.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Block {
    /// Conv + BN + ReLU.
    Conv(ConvBnRelu),
    /// Max pooling.
    MaxPool(MaxPool2d),
    /// Inception block.
    Inception(Inception),
    /// NCHW to `[N, C*H*W]` (channel-major, as ONNX flattens).
    Flatten(Identity),
    /// Fully connected.
    Dense(Dense),
}

/// One spec layer with its optional dropout.
#[derive(Module, Debug)]
pub struct NetLayer {
    /// The operation.
    pub block: Block,
    /// Dropout after the layer (training only).
    pub dropout: Option<Dropout>,
}

/// The whole network. Construct with [`Network::new`]; the same type trains (on an autodiff
/// device) and infers (after [`Module::valid`], or through [`Network::logits`]).
#[derive(Module, Debug)]
pub struct Network {
    /// Layers in spec order (private: built from `arch` only, so the two always match).
    pub(crate) layers: Vec<NetLayer>,
    /// The description this network was built from.
    #[module(skip)]
    pub(crate) arch: Architecture,
}

/// The burn max pool of `spec`.
pub(crate) fn max_pool2d(spec: &PoolSpec) -> MaxPool2d {
    let [ph, pw] = spec.padding;
    MaxPool2dConfig::new(spec.kernel)
        .with_strides(spec.stride)
        .with_padding(PaddingConfig2d::Explicit(ph, pw, ph, pw))
        .init()
}

/// Activations between layers: spatial `[N, C, H, W]` until the flatten, then `[N, F]`.
enum Act {
    Spatial(Tensor<4>),
    Flat(Tensor<2>),
}

impl Network {
    /// Builds the network of `arch` on `device` (use an autodiff device to train). Parameters
    /// are drawn from burn's initialisers; seed the device first (`device.seed(..)`) for a
    /// reproducible initialisation.
    pub fn new(arch: &Architecture, device: &Device) -> Result<Self, ModelError> {
        let summary = arch.summary()?;
        let Shape::Spatial { c: mut channels, .. } = arch.input else {
            return Err(ModelError::Unsupported(format!("input {} is not spatial", arch.input)));
        };
        match arch.output_shape()? {
            Shape::Flat(_) => {}
            other => {
                return Err(ModelError::Unsupported(format!(
                    "output {other} is not a vector of logits"
                )));
            }
        }
        let mut features = 0;
        let mut layers = Vec::with_capacity(arch.layers.len());
        for (layer, summary) in arch.layers.iter().zip(&summary) {
            let block = match &layer.kind {
                LayerKind::Conv(spec) => Block::Conv(ConvBnRelu::new(spec, channels, device)),
                LayerKind::MaxPool(spec) => Block::MaxPool(max_pool2d(spec)),
                LayerKind::Inception(branches) => Block::Inception(Inception {
                    branches: branches
                        .iter()
                        .map(|b| InceptionBranch {
                            pool: b.pool.as_ref().map(max_pool2d),
                            convs: b
                                .convs_with_inputs(channels)
                                .map(|(spec, c)| ConvBnRelu::new(spec, c, device))
                                .collect(),
                        })
                        .collect(),
                }),
                LayerKind::Flatten => Block::Flatten(Identity::new()),
                LayerKind::Dense { units, relu } => Block::Dense(Dense {
                    linear: LinearConfig::new(features, *units).init(device),
                    relu: *relu,
                }),
            };
            match summary.output {
                Shape::Spatial { c, .. } => channels = c,
                Shape::Flat(n) => features = n,
            }
            if !(0.0..1.0).contains(&layer.dropout) {
                return Err(ModelError::Unsupported(format!(
                    "layer {}: dropout {} outside 0..1",
                    layer.name, layer.dropout
                )));
            }
            let dropout = (layer.dropout > 0.0).then(|| DropoutConfig::new(f64::from(layer.dropout)).init());
            layers.push(NetLayer { block, dropout });
        }
        Ok(Network {
            layers,
            arch: arch.clone(),
        })
    }

    /// [`Network::new`] with every convolution and dense weight and bias drawn from a ChaCha
    /// generator seeded with `seed`, with the same distributions as burn's defaults
    /// (uniform in `±sqrt(1 / fan_in)`). Unlike the device RNG, which is process-wide and
    /// shared between threads, this gives the same initial weights for a seed on every backend
    /// and whatever else runs concurrently.
    pub fn seeded(arch: &Architecture, device: &Device, seed: u64) -> Result<Self, ModelError> {
        let mut net = Self::new(arch, device)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut uniform = |shape: Vec<usize>, fan_in: usize| {
            let bound = (1.0 / fan_in.max(1) as f64).sqrt() as f32;
            let n: usize = shape.iter().product();
            let values: Vec<f32> = (0..n).map(|_| rng.random_range(-bound..=bound)).collect();
            TensorData::new(values, shape)
        };
        let mut conv = |c: &mut ConvBnRelu| {
            let dims = c.conv.weight.lazy_shape().dims::<4>();
            let fan_in = dims[1] * dims[2] * dims[3];
            c.conv.weight = Param::from_tensor(Tensor::from_data(uniform(dims.to_vec(), fan_in), device));
            if c.conv.bias.is_some() {
                c.conv.bias = Some(Param::from_tensor(Tensor::from_data(
                    uniform(vec![dims[0]], fan_in),
                    device,
                )));
            }
        };
        let mut dense = Vec::new();
        for layer in &mut net.layers {
            match &mut layer.block {
                Block::Conv(c) => conv(c),
                Block::Inception(i) => i.branches.iter_mut().flat_map(|b| &mut b.convs).for_each(&mut conv),
                Block::Dense(d) => dense.push(d),
                Block::MaxPool(_) | Block::Flatten(_) => {}
            }
        }
        for d in dense {
            let [d_in, d_out] = d.linear.weight.lazy_shape().dims::<2>();
            d.linear.weight = Param::from_tensor(Tensor::from_data(uniform(vec![d_in, d_out], d_in), device));
            if d.linear.bias.is_some() {
                d.linear.bias = Some(Param::from_tensor(Tensor::from_data(
                    uniform(vec![d_out], d_in),
                    device,
                )));
            }
        }
        Ok(net)
    }

    /// The forward pass: `[N, C, H, W]` input to `[N, classes]` logits. On an autodiff device
    /// with a module in training mode, dropout is active and BatchNorm uses (and updates) batch
    /// statistics; on a [`Module::valid`] copy it is the inference pass.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        let mut x = Act::Spatial(input);
        for layer in &self.layers {
            x = match (&layer.block, x) {
                (Block::Conv(c), Act::Spatial(t)) => Act::Spatial(c.forward(t)),
                (Block::MaxPool(p), Act::Spatial(t)) => Act::Spatial(p.forward(t)),
                (Block::Inception(i), Act::Spatial(t)) => Act::Spatial(i.forward(t)),
                (Block::Flatten(_), Act::Spatial(t)) => Act::Flat(t.flatten(1, 3)),
                (Block::Flatten(_), flat @ Act::Flat(_)) => flat,
                (Block::Dense(d), Act::Flat(t)) => {
                    let y = d.linear.forward(t);
                    Act::Flat(if d.relu { relu(y) } else { y })
                }
                // `Network::new` checked every layer's input rank with `Architecture::summary`.
                _ => unreachable!("layer ranks were validated when the network was built"),
            };
            if let Some(dropout) = &layer.dropout {
                x = match x {
                    Act::Spatial(t) => Act::Spatial(dropout.forward(t)),
                    Act::Flat(t) => Act::Flat(dropout.forward(t)),
                };
            }
        }
        match x {
            Act::Flat(t) => t,
            Act::Spatial(_) => unreachable!("the output shape was checked to be flat"),
        }
    }

    /// The architecture this network was built from.
    pub fn arch(&self) -> &Architecture {
        &self.arch
    }

    /// The device the parameters live on.
    pub fn device(&self) -> Device {
        self.devices().into_iter().next().unwrap_or_default()
    }

    /// Values per input image (`c*h*w`).
    pub fn input_len(&self) -> usize {
        self.arch.input.len()
    }

    /// Number of output classes.
    pub fn num_classes(&self) -> usize {
        self.arch.output_shape().map_or(0, |s| s.len())
    }

    /// Trainable parameters counted from the burn tensors themselves (conv weights and biases,
    /// BatchNorm gamma and beta, dense weights and biases), without the BatchNorm running
    /// statistics that burn's [`Module::num_params`] also visits.
    pub fn trainable_params(&self) -> usize {
        let conv = |c: &ConvBnRelu| {
            let mut n = c.conv.weight.lazy_shape().num_elements();
            n += c.conv.bias.as_ref().map_or(0, |b| b.lazy_shape().num_elements());
            if let Some(bn) = &c.bn {
                n += bn.gamma.lazy_shape().num_elements() + bn.beta.lazy_shape().num_elements();
            }
            n
        };
        self.layers
            .iter()
            .map(|l| match &l.block {
                Block::Conv(c) => conv(c),
                Block::Inception(i) => i.branches.iter().flat_map(|b| &b.convs).map(conv).sum(),
                Block::Dense(d) => {
                    d.linear.weight.lazy_shape().num_elements()
                        + d.linear.bias.as_ref().map_or(0, |b| b.lazy_shape().num_elements())
                }
                Block::MaxPool(_) | Block::Flatten(_) => 0,
            })
            .sum()
    }

    /// Inference logits for `n` images given as `n * c * h * w` values (48x48 grey in 0..1
    /// after the shared normalisation): row-major `[n, classes]`. Runs in inference mode
    /// (running statistics, no dropout) whatever mode `self` is in.
    pub fn logits(&self, batch: &[f32], n: usize) -> Result<Vec<f32>, ModelError> {
        let model = self.valid();
        let device = model.device();
        let input = batch_to_tensor(&model.arch, batch, n, &device)?;
        Ok(model.forward(input).into_data().iter::<f32>().collect())
    }
}

/// `n` images of `arch`'s input size as a `[n, c, h, w]` tensor on `device`.
pub fn batch_to_tensor(arch: &Architecture, batch: &[f32], n: usize, device: &Device) -> Result<Tensor<4>, ModelError> {
    let Shape::Spatial { h, w, c } = arch.input else {
        return Err(ModelError::Unsupported(format!("input {} is not spatial", arch.input)));
    };
    let per_image = c * h * w;
    if batch.len() != n * per_image || n == 0 {
        return Err(ModelError::BatchSize {
            got: batch.len(),
            expected: n * per_image,
            n,
            per_image,
        });
    }
    Ok(Tensor::from_data(TensorData::new(batch.to_vec(), [n, c, h, w]), device))
}
