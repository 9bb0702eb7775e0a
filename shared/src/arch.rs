//! The network of the paper's Table 1 as data.
//!
//! Both the burn model (host) and the ONNX exporter walk this description, so the trainer
//! and the edge cannot disagree about what the network is. [`Architecture::summary`] infers
//! every layer's output shape and parameter count; `cargo run -p host -- arch` prints it.
//!
//! Reading of Table 1 (the paper leaves details open, see `../shared/PAPER.md`):
//! * every convolution is followed by BatchNorm and ReLU, so convolutions carry no bias;
//! * "3x Inception" is one Inception-V3 "A" block (64 -> 256 channels) and "5x Inception" one
//!   "B" block with asymmetric 1x3 / 3x1 convolutions (256 -> 512 channels);
//! * each block halves the spatial size with stride 2 on the last conv of every branch and on
//!   the pool branch's 3x3 max-pool;
//! * fc1 and fc2 use ReLU; the output layer gives logits (softmax is applied at inference).

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

/// Parameters of Keras' `InceptionV3(include_top=True)` (23,851,784), the paper's baseline.
pub const INCEPTION_V3_PARAMS: usize = 23_851_784;

/// A tensor shape between layers, channels last as the paper writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shape {
    /// Height, width, channels.
    Spatial {
        /// Rows.
        h: usize,
        /// Columns.
        w: usize,
        /// Channels.
        c: usize,
    },
    /// A flat vector.
    Flat(usize),
}

impl Shape {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match *self {
            Shape::Spatial { h, w, c } => h * w * c,
            Shape::Flat(n) => n,
        }
    }

    /// True when the shape holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl core::fmt::Display for Shape {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Shape::Spatial { h, w, c } => write!(f, "{h}x{w}x{c}"),
            Shape::Flat(n) => write!(f, "{n}"),
        }
    }
}

/// A 2-D convolution followed by BatchNorm (when `batch_norm`) and ReLU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvSpec {
    /// Output channels.
    pub out_channels: usize,
    /// Kernel (height, width).
    pub kernel: [usize; 2],
    /// Stride (vertical, horizontal).
    pub stride: [usize; 2],
    /// Zero padding on each side (vertical, horizontal).
    pub padding: [usize; 2],
    /// BatchNorm after the convolution; when false the convolution has a bias instead.
    pub batch_norm: bool,
}

impl ConvSpec {
    /// A `kh x kw` convolution with BatchNorm, "same" padding and stride `stride`.
    pub const fn new(out_channels: usize, kh: usize, kw: usize, stride: usize) -> Self {
        Self {
            out_channels,
            kernel: [kh, kw],
            stride: [stride, stride],
            padding: [kh / 2, kw / 2],
            batch_norm: true,
        }
    }

    /// Trainable parameters for `in_channels` inputs: weights, and bias or BN scale + shift.
    pub fn params(&self, in_channels: usize) -> usize {
        let weights = self.kernel[0] * self.kernel[1] * in_channels * self.out_channels;
        let extra = if self.batch_norm {
            2 * self.out_channels
        } else {
            self.out_channels
        };
        weights + extra
    }

    /// Output shape for `input` (`layer` names the layer in errors).
    pub fn output(&self, layer: &str, input: Shape) -> Result<Shape, ArchError> {
        conv_out(layer, input, self)
    }
}

/// Max-pooling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSpec {
    /// Window (height, width).
    pub kernel: [usize; 2],
    /// Stride (vertical, horizontal).
    pub stride: [usize; 2],
    /// Padding on each side (vertical, horizontal); padded cells never win the max.
    pub padding: [usize; 2],
}

impl PoolSpec {
    /// A square window.
    pub const fn new(kernel: usize, stride: usize, padding: usize) -> Self {
        Self {
            kernel: [kernel, kernel],
            stride: [stride, stride],
            padding: [padding, padding],
        }
    }

    /// Output shape for `input` (`layer` names the layer in errors).
    pub fn output(&self, layer: &str, input: Shape) -> Result<Shape, ArchError> {
        pool_out(layer, input, self)
    }
}

/// One Inception branch: an optional pool, then a chain of convolutions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Branch {
    /// Pooling applied to the block input first (the "pool -> 1x1" branch).
    pub pool: Option<PoolSpec>,
    /// Convolutions in order.
    pub convs: Vec<ConvSpec>,
}

impl Branch {
    /// Each convolution with the channels it reads: the block's `in_channels` for the first
    /// (pooling keeps channels), the previous convolution's outputs for the others.
    pub fn convs_with_inputs(&self, in_channels: usize) -> impl Iterator<Item = (&ConvSpec, usize)> {
        let mut channels = in_channels;
        self.convs
            .iter()
            .map(move |spec| (spec, core::mem::replace(&mut channels, spec.out_channels)))
    }
}

/// What a layer does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LayerKind {
    /// Convolution + BatchNorm + ReLU.
    Conv(ConvSpec),
    /// Max pooling.
    MaxPool(PoolSpec),
    /// Parallel branches concatenated along channels.
    Inception(Vec<Branch>),
    /// Spatial to flat (channel-major, as ONNX and burn lay out NCHW tensors).
    Flatten,
    /// Fully connected layer; `relu` false means raw logits.
    Dense {
        /// Output units.
        units: usize,
        /// ReLU after the layer.
        relu: bool,
    },
}

/// A named row of Table 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// Row name as in the paper (conv1, maxpool1, ...).
    pub name: String,
    /// The operation.
    pub kind: LayerKind,
    /// Dropout rate applied after the layer during training (0 = none).
    pub dropout: f32,
}

impl Layer {
    /// A row named `name` of kind `kind`, followed in training by dropout at `dropout`.
    pub fn new(name: impl Into<String>, kind: LayerKind, dropout: f32) -> Self {
        Self {
            name: name.into(),
            kind,
            dropout,
        }
    }
}

/// A network: its input shape and layers in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    /// Input shape (48x48x1 for the paper).
    pub input: Shape,
    /// Layers in order.
    pub layers: Vec<Layer>,
}

/// Inferred facts about one layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerSummary {
    /// Row name.
    pub name: String,
    /// Output shape.
    pub output: Shape,
    /// Trainable parameters.
    pub params: usize,
}

/// Shape inference failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchError {
    /// A spatial op got a flat input or the reverse.
    #[error("layer {layer}: expected a {expected} input, got {got}")]
    WrongRank {
        /// Layer name.
        layer: String,
        /// "spatial" or "flat".
        expected: &'static str,
        /// The shape it got.
        got: Shape,
    },
    /// A window larger than its padded input, or a zero stride/size.
    #[error("layer {layer}: window does not fit input {got}")]
    WindowTooLarge {
        /// Layer name.
        layer: String,
        /// The input shape.
        got: Shape,
    },
    /// Inception branches disagree on spatial size.
    #[error("layer {layer}: branches end at different sizes")]
    BranchMismatch {
        /// Layer name.
        layer: String,
    },
}

fn window_out(len: usize, kernel: usize, stride: usize, pad: usize) -> Option<usize> {
    let padded = len + 2 * pad;
    if kernel == 0 || stride == 0 || padded < kernel {
        return None;
    }
    Some((padded - kernel) / stride + 1)
}

fn spatial(layer: &str, shape: Shape) -> Result<(usize, usize, usize), ArchError> {
    match shape {
        Shape::Spatial { h, w, c } => Ok((h, w, c)),
        got => Err(ArchError::WrongRank {
            layer: layer.into(),
            expected: "spatial",
            got,
        }),
    }
}

fn window(
    layer: &str,
    input: Shape,
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
    c: usize,
) -> Result<Shape, ArchError> {
    let (h, w, _) = spatial(layer, input)?;
    let too_large = || ArchError::WindowTooLarge {
        layer: layer.into(),
        got: input,
    };
    let h = window_out(h, k[0], s[0], p[0]).ok_or_else(too_large)?;
    let w = window_out(w, k[1], s[1], p[1]).ok_or_else(too_large)?;
    Ok(Shape::Spatial { h, w, c })
}

fn conv_out(layer: &str, input: Shape, conv: &ConvSpec) -> Result<Shape, ArchError> {
    window(layer, input, conv.kernel, conv.stride, conv.padding, conv.out_channels)
}

fn pool_out(layer: &str, input: Shape, pool: &PoolSpec) -> Result<Shape, ArchError> {
    let (_, _, c) = spatial(layer, input)?;
    window(layer, input, pool.kernel, pool.stride, pool.padding, c)
}

impl LayerKind {
    /// Output shape and trainable parameters for a given input shape.
    pub fn infer(&self, layer: &str, input: Shape) -> Result<(Shape, usize), ArchError> {
        match self {
            LayerKind::Conv(conv) => {
                let (_, _, c) = spatial(layer, input)?;
                Ok((conv_out(layer, input, conv)?, conv.params(c)))
            }
            LayerKind::MaxPool(pool) => Ok((pool_out(layer, input, pool)?, 0)),
            LayerKind::Inception(branches) => {
                let mut size = None;
                let (mut channels, mut params) = (0, 0);
                for branch in branches {
                    let mut shape = input;
                    if let Some(pool) = &branch.pool {
                        shape = pool_out(layer, shape, pool)?;
                    }
                    for conv in &branch.convs {
                        let (_, _, c) = spatial(layer, shape)?;
                        params += conv.params(c);
                        shape = conv_out(layer, shape, conv)?;
                    }
                    let (h, w, c) = spatial(layer, shape)?;
                    if size.is_some_and(|s| s != (h, w)) {
                        return Err(ArchError::BranchMismatch { layer: layer.into() });
                    }
                    size = Some((h, w));
                    channels += c;
                }
                let (h, w) = size.ok_or_else(|| ArchError::BranchMismatch { layer: layer.into() })?;
                Ok((Shape::Spatial { h, w, c: channels }, params))
            }
            LayerKind::Flatten => Ok((Shape::Flat(input.len()), 0)),
            LayerKind::Dense { units, .. } => match input {
                Shape::Flat(n) => Ok((Shape::Flat(*units), n * units + units)),
                got => Err(ArchError::WrongRank {
                    layer: layer.into(),
                    expected: "flat",
                    got,
                }),
            },
        }
    }
}

impl Architecture {
    /// Output shape and parameter count of every layer, in order.
    pub fn summary(&self) -> Result<Vec<LayerSummary>, ArchError> {
        let mut shape = self.input;
        let mut out = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let (output, params) = layer.kind.infer(&layer.name, shape)?;
            out.push(LayerSummary {
                name: layer.name.clone(),
                output,
                params,
            });
            shape = output;
        }
        Ok(out)
    }

    /// Total trainable parameters.
    pub fn num_params(&self) -> Result<usize, ArchError> {
        Ok(self.summary()?.iter().map(|l| l.params).sum())
    }

    /// Shape of the final layer's output.
    pub fn output_shape(&self) -> Result<Shape, ArchError> {
        Ok(self.summary()?.last().map_or(self.input, |l| l.output))
    }

    /// BatchNorm running statistics (mean and variance per channel): state, not parameters.
    pub fn num_batch_norm_buffers(&self) -> usize {
        let conv_channels = |c: &ConvSpec| if c.batch_norm { 2 * c.out_channels } else { 0 };
        self.layers
            .iter()
            .map(|l| match &l.kind {
                LayerKind::Conv(c) => conv_channels(c),
                LayerKind::Inception(bs) => bs.iter().flat_map(|b| &b.convs).map(conv_channels).sum(),
                _ => 0,
            })
            .sum()
    }
}

mod paper;
#[cfg(test)]
mod tests;
