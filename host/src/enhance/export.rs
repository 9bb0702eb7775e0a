//! The enhancer as a standard fp32 ONNX graph (opset 13), written with the exporter's
//! [`GraphBuilder`] by walking the same module tree as [`FfaNet::forward`], so the edge can
//! run it with tract before the classifier.
//!
//! Operators: Conv, Relu, Add, Mul, Sigmoid, GlobalAveragePool, Concat and a final Clip to
//! 0..1 (the restored face, as [`FfaNet::restore`] clamps it). The fusion attention's last
//! 1x1 convolution, which gives one weight per group and channel, is written as one Conv per
//! group (its output channels split by group), which needs no Slice.

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

use super::network::{ChannelAttention, FaBlock, FfaNet, PixelAttention};
use crate::export::onnx::{Dim, GraphBuilder, ints};

/// Input name of the graph: `[1, 1, 48, 48]` grey face in 0..1.
pub const INPUT: &str = "face";
/// Output name: the restored face, same shape, clipped to 0..1.
pub const OUTPUT: &str = "restored";

fn values<const D: usize>(p: &Param<Tensor<D>>) -> (Vec<usize>, Vec<f32>) {
    let t = p.val();
    let dims = t.dims().to_vec();
    (dims, t.into_data().iter::<f32>().collect())
}

struct Writer {
    g: GraphBuilder,
    next: usize,
}

impl Writer {
    fn name(&mut self, what: &str) -> String {
        self.next += 1;
        format!("{what}_{}", self.next)
    }

    /// A Conv node from weights `[out, in, k, k]` and a bias.
    fn conv_raw(&mut self, x: &str, (dims, w): (Vec<usize>, Vec<f32>), bias: Vec<f32>) -> String {
        let (k, p) = (dims[2] as i64, dims[2] as i64 / 2);
        let name = self.name("conv");
        let w_name = self.g.f32s(&format!("{name}.weight"), &dims, &w);
        let b_name = self.g.f32s(&format!("{name}.bias"), &[dims[0]], &bias);
        let attrs = vec![
            ints("kernel_shape", &[k, k]),
            ints("pads", &[p, p, p, p]),
            ints("strides", &[1, 1]),
        ];
        self.g.node("Conv", &name, &[x, &w_name, &b_name], &name, attrs)
    }

    fn conv(&mut self, x: &str, c: &Conv2d) -> String {
        let weight = values(&c.weight);
        let bias = c.bias.as_ref().map_or_else(|| vec![0.0; weight.0[0]], |b| values(b).1);
        self.conv_raw(x, weight, bias)
    }

    fn op(&mut self, op: &str, inputs: &[&str]) -> String {
        let name = self.name(&op.to_lowercase());
        self.g.node(op, &name, inputs, &name, Vec::new())
    }

    /// An attention gate: `x * sigmoid(up(relu(down(source))))`.
    fn gate(&mut self, x: &str, source: &str, down: &Conv2d, up: &Conv2d) -> String {
        let d = self.conv(source, down);
        let relu = self.op("Relu", &[&d]);
        let u = self.conv(&relu, up);
        let w = self.op("Sigmoid", &[&u]);
        self.op("Mul", &[x, &w])
    }

    /// Channel attention: the gate of `x`'s channel means.
    fn channel_attention(&mut self, x: &str, ca: &ChannelAttention) -> String {
        let pooled = self.op("GlobalAveragePool", &[x]);
        self.gate(x, &pooled, &ca.down, &ca.up)
    }

    /// Pixel attention: the gate of `x` itself.
    fn pixel_attention(&mut self, x: &str, pa: &PixelAttention) -> String {
        self.gate(x, x, &pa.down, &pa.up)
    }

    fn block(&mut self, x: &str, b: &FaBlock) -> String {
        let c1 = self.conv(x, &b.conv1);
        let r = self.op("Relu", &[&c1]);
        let r = self.op("Add", &[&r, x]);
        let c2 = self.conv(&r, &b.conv2);
        let ca = self.channel_attention(&c2, &b.ca);
        let pa = self.pixel_attention(&ca, &b.pa);
        self.op("Add", &[&pa, x])
    }
}

/// The ONNX bytes of `net` for one `side x side` grey face.
pub fn onnx(net: &FfaNet, side: usize) -> Vec<u8> {
    let mut w = Writer {
        g: GraphBuilder::default(),
        next: 0,
    };
    let dims = [
        Dim::Fixed(1),
        Dim::Fixed(1),
        Dim::Fixed(side as i64),
        Dim::Fixed(side as i64),
    ];
    w.g.input(INPUT, &dims);
    let mut r = w.conv(INPUT, &net.head);
    let mut outs = Vec::with_capacity(net.groups.len());
    for group in &net.groups {
        let start = r.clone();
        for b in &group.blocks {
            r = w.block(&r, b);
        }
        let c = w.conv(&r, &group.conv);
        r = w.op("Add", &[&c, &start]);
        outs.push(r.clone());
    }
    // Fusion: attention weights from the groups side by side, one Conv per group's share.
    let refs: Vec<&str> = outs.iter().map(String::as_str).collect();
    let cat_name = w.name("concat");
    let cat = w.g.node(
        "Concat",
        &cat_name,
        &refs,
        &cat_name,
        vec![crate::export::onnx::int("axis", 1)],
    );
    let pooled = w.op("GlobalAveragePool", &[&cat]);
    let down = w.conv(&pooled, &net.fusion.down);
    let relu = w.op("Relu", &[&down]);
    let (up_dims, up_w) = values(&net.fusion.up.weight);
    let up_b = net
        .fusion
        .up
        .bias
        .as_ref()
        .map_or_else(|| vec![0.0; up_dims[0]], |b| values(b).1);
    let c = up_dims[0] / outs.len();
    let per_out = up_dims[1] * up_dims[2] * up_dims[3];
    let mut fused: Option<String> = None;
    for (i, out) in outs.iter().enumerate() {
        let dims = vec![c, up_dims[1], up_dims[2], up_dims[3]];
        let weights = up_w[i * c * per_out..(i + 1) * c * per_out].to_vec();
        let bias = up_b[i * c..(i + 1) * c].to_vec();
        let logits = w.conv_raw(&relu, (dims, weights), bias);
        let weight = w.op("Sigmoid", &[&logits]);
        let scaled = w.op("Mul", &[out, &weight]);
        fused = Some(match fused {
            None => scaled,
            Some(acc) => w.op("Add", &[&acc, &scaled]),
        });
    }
    let fused = fused.expect("at least one group");
    let pa = w.pixel_attention(&fused, &net.fusion_pa);
    let t1 = w.conv(&pa, &net.tail1);
    let t2 = w.conv(&t1, &net.tail2);
    let y = w.op("Add", &[&t2, INPUT]);
    let lo = w.g.f32s("clip_min", &[], &[0.0]);
    let hi = w.g.f32s("clip_max", &[], &[1.0]);
    w.g.node("Clip", "clip", &[&y, &lo, &hi], OUTPUT, Vec::new());
    w.g.output(OUTPUT, Some(&dims));
    w.g.finish("vigil-enhancer", "FFA-style face enhancer (host::enhance)")
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::tensor::{Device, Tensor, TensorData};
    use shared::enhancer::FfaSpec;
    use tract_onnx::prelude::{IntoTensor, tract_ndarray, tvec};

    use super::{FfaNet, onnx};

    #[test]
    fn tract_runs_the_graph_as_burn_runs_the_module() {
        let device = Device::flex();
        let spec = FfaSpec {
            channels: 4,
            groups: 2,
            blocks: 1,
            reduction: 2,
        };
        let mut net = FfaNet::new(&spec, &device, 3);
        // The last convolution starts at zero (identity); give it weights so the graph's
        // every node shows in the output.
        let mut rng = 1u32;
        let mut noise = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    rng = rng.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (rng >> 8) as f32 / (1u32 << 24) as f32 * 0.4 - 0.2
                })
                .collect()
        };
        net.tail2.weight = Param::from_tensor(Tensor::from_data(TensorData::new(noise(4 * 9), [1, 4, 3, 3]), &device));
        let side = 16;
        let face: Vec<u8> = (0..side * side).map(|i| (i * 37 % 256) as u8).collect();
        let x: Vec<f32> = face.iter().map(|&p| crate::enhance::to_unit(p)).collect();
        let burn_out: Vec<f32> = net
            .forward(Tensor::from_data(
                TensorData::new(x.clone(), [1, 1, side, side]),
                &device,
            ))
            .clamp(0.0, 1.0)
            .into_data()
            .iter::<f32>()
            .collect();
        let plan = artifacts::onnx::load_plan(&onnx(&net, side), [1, side, side]).unwrap();
        let input = tract_ndarray::Array4::from_shape_vec((1, 1, side, side), x).unwrap();
        let out = plan.run(tvec!(input.into_tensor().into())).unwrap();
        let tract_out = out[0].to_plain_array_view::<f32>().unwrap();
        let diff = tract_out
            .iter()
            .zip(&burn_out)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(diff < 1e-5, "tract and burn differ by {diff}");
        let changed = burn_out
            .iter()
            .zip(&face)
            .filter(|(o, f)| crate::enhance::to_u8(**o) != **f)
            .count();
        assert!(changed > side * side / 2, "the test network should not be the identity");
    }
}
