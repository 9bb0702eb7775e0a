//! The int8 ONNX graph: the first convolution in float, its output quantised -> QLinearConv
//! (BN folded, ReLU by saturation) -> int8 MaxPool / Concat -> fully connected layers as
//! QLinearConv -> the output layer on the dequantised int8 activations and int8 weights, in
//! float.
//!
//! Design choices, each to keep the network in integer kernels where int8 costs no accuracy:
//! * the first convolution runs in float on the float input, with float weights: its nine
//!   weights per channel (one grey input channel, 3x3) are large after BatchNorm folding
//!   while many kernels sum to nearly zero (edge detectors), so rounding them changes each
//!   kernel's sum and shifts every output by an amount that follows the local brightness: a
//!   systematic error that no later layer averages out. Rounding that one layer's weights
//!   moved the logits as far as rounding all other weights and activations together
//!   (models/REPORT.md measures it); in float it is 32 x 9 multiply-adds per pixel;
//! * weights are int8, symmetric, with a scalar zero point 0 (a per-channel zero point vector
//!   stops tract from dropping the zero-point correction sums), and one scale per output
//!   channel or, for speed in tract, one per layer ([`WeightScales`]);
//! * activations are int8 over `[0, max]` after a ReLU, zero point -128, so saturation *is*
//!   the ReLU and no separate op runs;
//! * every branch of an Inception block writes with the block's output parameters, so the
//!   channel concatenation is a plain int8 copy (no requantisation, no contrib ops);
//! * the dense layers are QLinearConv: fc1 is a 3x3 "valid" convolution over the 512x3x3
//!   pool output (flatten order C,H,W is exactly the kernel layout), fc2 and the output 1x1
//!   convolutions. QLinearConv has an int32 bias input that QLinearMatMul lacks;
//! * a dense layer with more weights than [`MAX_FOLDED_KERNEL`] (fc1: 1024 x 4608) is split by
//!   output channels into QLinearConvs under it, joined by a Concat with shared output
//!   parameters (a plain copy). tract constant-folds the kernel's packing and its int32 sum
//!   (for the zero-point correction) only while the folded tensor stays within its 4 MiB
//!   budget; unfolded, fc1 re-packed and re-summed its kernel on every run: 2.7 of 9.1 ms per
//!   image, measured with `cargo run --release -p host --example tract_profile`;
//! * the output layer's inputs and weights are int8 like every other layer's, but its sums
//!   are not requantised to int8 logits: one logit step (a 255th of their calibrated range,
//!   about 0.1) is as wide as the top-two margin of many faces, so int8 logits tied or
//!   swapped classes the fp32 model told apart (models/REPORT.md measures it). The layer is
//!   a float Conv over `DequantizeLinear` of both; tract folds the weights' dequantisation
//!   into constants, and 7 x 256 float multiply-adds cost nothing next to the convolutions.

use std::collections::HashMap;

use shared::arch::Shape;

use super::ExportError;
use super::float_graph::{INPUT, LOGITS, VIEW_LOGITS, branch_conv_name, conv_attributes, pool_attributes};
use super::folded::{FoldedConv, FoldedLayer, FoldedNetwork};
use super::onnx::{Dim, GraphBuilder, int};
use super::quant::{QuantParams, QuantizedWeights, WeightScales, quantize_bias, quantize_weights};
use super::views::{self, Views};

/// Most weights in one int8 kernel: its int32 copy must fit tract's constant-folding budget
/// (`tract_core::optim::CONST_FOLD_MEM_BUDGET`, 4 MiB). See the module docs.
pub const MAX_FOLDED_KERNEL: usize = (4 << 20) / 4;

/// A conv-shaped layer in the int8 graph: weights `[out, in, kh, kw]` plus geometry.
struct QConv<'a> {
    name: String,
    weight: &'a [f32],
    bias: &'a [f32],
    dims: [usize; 4],
    attributes: Vec<tract_onnx::pb::AttributeProto>,
}

impl<'a> QConv<'a> {
    fn from_conv(name: String, conv: &'a FoldedConv) -> Self {
        QConv {
            name,
            weight: &conv.weight,
            bias: &conv.bias,
            dims: [
                conv.spec.out_channels,
                conv.in_channels,
                conv.spec.kernel[0],
                conv.spec.kernel[1],
            ],
            attributes: conv_attributes(conv),
        }
    }
}

struct Builder<'r> {
    g: GraphBuilder,
    ranges: &'r HashMap<String, (f32, f32)>,
    weight_scales: WeightScales,
}

impl Builder<'_> {
    fn params(&self, tensor: &str) -> Result<QuantParams, ExportError> {
        let &(min, max) = self
            .ranges
            .get(tensor)
            .ok_or_else(|| ExportError::MissingRange(tensor.into()))?;
        Ok(QuantParams::from_range(min, max))
    }

    fn scalar_params(&mut self, prefix: &str, q: QuantParams) -> (String, String) {
        (
            self.g.f32s(&format!("{prefix}.scale"), &[], &[q.scale]),
            self.g.i8s(&format!("{prefix}.zero_point"), &[], &[q.zero_point]),
        )
    }

    /// Quantises `conv`'s weights and emits them as `{name}.weight_q` and `{name}.weight_scale`
    /// initializers; returns the quantised weights and the two tensor names.
    fn int8_weights(&mut self, conv: &QConv<'_>) -> (QuantizedWeights, String, String) {
        let name = &conv.name;
        let w = quantize_weights(conv.weight, conv.dims[0], self.weight_scales);
        let wq = self.g.i8s(&format!("{name}.weight_q"), &conv.dims, &w.values);
        // ONNX: a scalar w_scale means per-tensor, a vector of length M per output channel.
        let ws = match self.weight_scales {
            WeightScales::PerChannel => self.g.f32s(&format!("{name}.weight_scale"), &[conv.dims[0]], &w.scales),
            WeightScales::PerTensor => self.g.f32s(&format!("{name}.weight_scale"), &[], &w.scales[..1]),
        };
        (w, wq, ws)
    }

    /// Emits one QLinearConv from `x` (quantised with `xq`) to a tensor quantised with `yq`.
    fn qconv(&mut self, x: &str, xq: QuantParams, conv: QConv<'_>, yq: QuantParams) -> String {
        let name = &conv.name;
        let (xs, xz) = self.scalar_params(&format!("{name}.x"), xq);
        let (ys, yz) = self.scalar_params(&format!("{name}.y"), yq);
        let (w, wq, ws) = self.int8_weights(&conv);
        let bias = quantize_bias(conv.bias, xq.scale, &w.scales);
        let wz = self.g.i8s(&format!("{name}.weight_zero_point"), &[], &[0]);
        let b = self.g.i32s(&format!("{name}.bias_q"), &[conv.dims[0]], &bias);
        let out = format!("{name}.q");
        self.g.node(
            "QLinearConv",
            name,
            &[x, &xs, &xz, &wq, &ws, &wz, &ys, &yz, &b],
            &out,
            conv.attributes,
        )
    }

    /// Emits the first layer: a float Conv over the float input with float weights and bias
    /// (`{name}.weight`, `{name}.bias`), its output quantised with `yq` (saturation at the
    /// zero point -128 performs the ReLU).
    fn float_input_conv(&mut self, x_float: &str, conv: QConv<'_>, yq: QuantParams) -> String {
        let name = &conv.name;
        let weight = self.g.f32s(&format!("{name}.weight"), &conv.dims, conv.weight);
        let b = self.g.f32s(&format!("{name}.bias"), &[conv.dims[0]], conv.bias);
        let pre = self.g.node(
            "Conv",
            name,
            &[x_float, &weight, &b],
            &format!("{name}.pre"),
            conv.attributes,
        );
        let (ys, yz) = self.scalar_params(&format!("{name}.y"), yq);
        self.g.node(
            "QuantizeLinear",
            &format!("{name}/Quantize"),
            &[&pre, &ys, &yz],
            &format!("{name}.q"),
            vec![],
        )
    }

    /// Emits a float Conv over `x_float` (a dequantised int8 tensor) with the layer's int8
    /// weights dequantised: the sums of [`Self::qconv`] without requantisation. The weights
    /// keep [`Self::qconv`]'s names and the bias is float (`{name}.bias`), which is how
    /// [`super::read_back`] tells the two kinds apart.
    fn float_output_conv(&mut self, x_float: &str, conv: QConv<'_>) -> String {
        let name = &conv.name;
        let (_, wq, ws) = self.int8_weights(&conv);
        let weight = self.g.node(
            "DequantizeLinear",
            &format!("{name}/weight/Dequantize"),
            &[&wq, &ws],
            &format!("{name}.weight"),
            vec![int("axis", 0)],
        );
        let b = self.g.f32s(&format!("{name}.bias"), &[conv.dims[0]], conv.bias);
        self.g.node(
            "Conv",
            name,
            &[x_float, &weight, &b],
            &format!("{name}.out"),
            conv.attributes,
        )
    }
}

/// Builds the int8 graph from calibrated float ranges keyed by fp32 tensor name
/// (see [`super::float_graph::build`]); the input range is that of normalised pixels.
pub fn build(
    net: &FoldedNetwork,
    ranges: &HashMap<String, (f32, f32)>,
    weight_scales: WeightScales,
    input_range: (f32, f32),
    views: Views,
) -> Result<Vec<u8>, ExportError> {
    let mut b = Builder {
        g: GraphBuilder::default(),
        ranges,
        weight_scales,
    };
    let [c, h, w] = net.input_chw;
    let batch = Dim::Symbol("N");
    b.g.input(
        INPUT,
        &[
            batch.clone(),
            Dim::Fixed(c as i64),
            Dim::Fixed(h as i64),
            Dim::Fixed(w as i64),
        ],
    );
    // A first convolution reads the float input itself (module docs); any other first layer
    // reads the input quantised.
    let float_first = matches!(net.layers.first().map(|l| &l.layer), Some(FoldedLayer::Conv(_)));
    let mut xq = QuantParams::from_range(input_range.0, input_range.1);
    let input = match views {
        Views::Single => INPUT.to_string(),
        Views::Mirrored => views::mirror_inputs(&mut b.g, INPUT, w),
    };
    let mut x = if float_first {
        input
    } else {
        let (s, z) = b.scalar_params(INPUT, xq);
        b.g.node("QuantizeLinear", "input/Quantize", &[&input, &s, &z], "input.q", vec![])
    };
    // Spatial shape entering a dense layer, set by Flatten: the first dense becomes a
    // kh x kw convolution over it, later ones 1x1.
    let mut flat_from: Option<[usize; 3]> = None;
    let mut spatial = Shape::Spatial { h, w, c };
    // Whether `x` holds float values (after the output layer) rather than int8.
    let mut float_out = false;
    let last_dense = net
        .layers
        .iter()
        .rposition(|l| matches!(l.layer, FoldedLayer::Dense(_)));
    for (index, layer) in net.layers.iter().enumerate() {
        let name = layer.name.as_str();
        match &layer.layer {
            FoldedLayer::Conv(conv) => {
                let yq = b.params(name)?;
                let qconv = QConv::from_conv(name.into(), conv);
                // `float_first`: the input was left in float for this layer.
                x = if index == 0 {
                    b.float_input_conv(&x, qconv, yq)
                } else {
                    b.qconv(&x, xq, qconv, yq)
                };
                xq = yq;
                spatial = conv.spec.output(name, spatial)?;
            }
            FoldedLayer::MaxPool(p) => {
                x =
                    b.g.node("MaxPool", name, &[&x], &format!("{name}.q"), pool_attributes(p));
                spatial = p.output(name, spatial)?;
            }
            FoldedLayer::Inception(branches) => {
                let block_q = b.params(name)?;
                let mut outs = Vec::new();
                let mut channels = 0;
                let mut branch_spatial = spatial;
                for (bi, branch) in branches.iter().enumerate() {
                    let (mut y, mut yq_in, mut s) = (x.clone(), xq, spatial);
                    if let Some(p) = &branch.pool {
                        let pname = format!("{name}/b{bi}/pool");
                        y =
                            b.g.node("MaxPool", &pname, &[&y], &format!("{pname}.q"), pool_attributes(p));
                        s = p.output(&pname, s)?;
                    }
                    for (ci, conv) in branch.convs.iter().enumerate() {
                        let cname = branch_conv_name(name, bi, ci);
                        let yq = if ci + 1 == branch.convs.len() {
                            block_q
                        } else {
                            b.params(&cname)?
                        };
                        y = b.qconv(&y, yq_in, QConv::from_conv(cname, conv), yq);
                        yq_in = yq;
                        s = conv.spec.output(name, s)?;
                    }
                    let Shape::Spatial { c, .. } = s else {
                        return Err(ExportError::Shape(format!("{name}: branch {bi} ends flat")));
                    };
                    channels += c;
                    branch_spatial = s;
                    outs.push(y);
                }
                let refs: Vec<&str> = outs.iter().map(String::as_str).collect();
                x =
                    b.g.node("Concat", name, &refs, &format!("{name}.q"), vec![int("axis", 1)]);
                xq = block_q;
                spatial = match branch_spatial {
                    Shape::Spatial { h, w, .. } => Shape::Spatial { h, w, c: channels },
                    flat => flat,
                };
            }
            FoldedLayer::Flatten => {
                flat_from = match spatial {
                    Shape::Spatial { h, w, c } => Some([c, h, w]),
                    Shape::Flat(n) => Some([n, 1, 1]),
                }
            }
            FoldedLayer::Dense(d) => {
                let [ic, kh, kw] = flat_from.take().unwrap_or([d.in_features, 1, 1]);
                if ic * kh * kw != d.in_features {
                    return Err(ExportError::Shape(format!(
                        "{name}: {ic}x{kh}x{kw} inputs, weights expect {}",
                        d.in_features
                    )));
                }
                // The output layer reads its input dequantised and writes float logits.
                let output = Some(index) == last_dense;
                let x_float = if output {
                    let (s, z) = b.scalar_params(&format!("{name}.input.dq"), xq);
                    let input = format!("{name}.input");
                    Some(b.g.node(
                        "DequantizeLinear",
                        &format!("{name}/input/Dequantize"),
                        &[&x, &s, &z],
                        &input,
                        vec![],
                    ))
                } else {
                    None
                };
                let yq = if output { xq } else { b.params(name)? };
                let parts = d.weight.len().div_ceil(MAX_FOLDED_KERNEL);
                let per_part = d.out_features.div_ceil(parts);
                let mut outs = Vec::new();
                for (part, first) in (0..d.out_features).step_by(per_part).enumerate() {
                    let end = (first + per_part).min(d.out_features);
                    let conv = QConv {
                        name: if parts == 1 {
                            name.into()
                        } else {
                            format!("{name}/part{part}")
                        },
                        weight: &d.weight[first * d.in_features..end * d.in_features],
                        bias: &d.bias[first..end],
                        dims: [end - first, ic, kh, kw],
                        attributes: vec![super::onnx::ints("kernel_shape", &[kh as i64, kw as i64])],
                    };
                    outs.push(match &x_float {
                        Some(x_float) => b.float_output_conv(x_float, conv),
                        None => b.qconv(&x, xq, conv, yq),
                    });
                }
                x = if parts == 1 {
                    outs.remove(0)
                } else {
                    let refs: Vec<&str> = outs.iter().map(String::as_str).collect();
                    b.g.node("Concat", name, &refs, &format!("{name}.out"), vec![int("axis", 1)])
                };
                xq = yq;
                float_out = output;
                spatial = Shape::Flat(d.out_features);
            }
        }
    }
    if !float_out {
        let (s, z) = b.scalar_params("logits.dq", xq);
        x = b.g.node(
            "DequantizeLinear",
            "logits/Dequantize",
            &[&x, &s, &z],
            "logits.nchw",
            vec![],
        );
    }
    let flat = match views {
        Views::Single => LOGITS,
        Views::Mirrored => VIEW_LOGITS,
    };
    b.g.node("Flatten", "logits/Flatten", &[&x], flat, vec![int("axis", 1)]);
    if views == Views::Mirrored {
        views::average_views(&mut b.g, VIEW_LOGITS, net.num_classes(), LOGITS);
    }
    b.g.output(LOGITS, Some(&[batch, Dim::Fixed(net.num_classes() as i64)]));
    Ok(b.g.finish(
        "vigil_int8",
        "vigil emotion network, static int8 (QLinearConv), BatchNorm folded",
    ))
}
