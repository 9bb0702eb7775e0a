//! The fp32 ONNX graph: Conv(+bias)+Relu, MaxPool, Concat, Flatten, Gemm — BatchNorm folded.
//!
//! Tensor names follow the architecture (`conv1`, `inception_a/b2/conv1`, `inception_a`,
//! `fc1`, `logits`), so the int8 exporter can look up each tensor's calibrated range by name.

use super::folded::{FoldedConv, FoldedLayer, FoldedNetwork};
use super::onnx::{Dim, GraphBuilder, int, ints};
use super::views::{self, Views};

/// Name of the graph input.
pub const INPUT: &str = "input";
/// Name of the graph output (raw logits; softmax happens at the edge).
pub const LOGITS: &str = "logits";
/// The network's logits of every view, before [`Views::Mirrored`] averages them into
/// [`LOGITS`].
pub const VIEW_LOGITS: &str = "logits.views";

/// Conv attributes shared by the fp32 and int8 graphs.
pub fn conv_attributes(conv: &FoldedConv) -> Vec<tract_onnx::pb::AttributeProto> {
    let [kh, kw] = conv.spec.kernel;
    let [sh, sw] = conv.spec.stride;
    let [ph, pw] = conv.spec.padding;
    vec![
        ints("kernel_shape", &[kh as i64, kw as i64]),
        ints("strides", &[sh as i64, sw as i64]),
        ints("pads", &[ph as i64, pw as i64, ph as i64, pw as i64]),
    ]
}

/// MaxPool attributes shared by both graphs.
pub fn pool_attributes(p: &shared::arch::PoolSpec) -> Vec<tract_onnx::pb::AttributeProto> {
    let [kh, kw] = p.kernel;
    let [sh, sw] = p.stride;
    let [ph, pw] = p.padding;
    vec![
        ints("kernel_shape", &[kh as i64, kw as i64]),
        ints("strides", &[sh as i64, sw as i64]),
        ints("pads", &[ph as i64, pw as i64, ph as i64, pw as i64]),
    ]
}

/// The name of the tensor each branch conv writes.
pub fn branch_conv_name(layer: &str, branch: usize, conv: usize) -> String {
    format!("{layer}/b{branch}/conv{conv}")
}

/// The name of the tensor a convolution (`conv1`, `inception_a/b2/conv1`) writes before its
/// ReLU.
pub fn pre_activation(conv: &str) -> String {
    format!("{conv}.pre")
}

/// Which intermediate tensors the fp32 graph also outputs, after the logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposed {
    /// None: the model as shipped.
    Nothing,
    /// Every conv, concat and dense output (for activation calibration).
    Activations,
    /// Every convolution's output before its ReLU (for BatchNorm statistics).
    PreActivations,
}

/// Builds the fp32 graph with the `exposed` tensors as extra outputs; the returned list names
/// them in graph order.
pub fn build(net: &FoldedNetwork, exposed: Exposed) -> (Vec<u8>, Vec<String>) {
    graph(net, exposed, Views::Single)
}

/// The fp32 classifier over `views` of each face (no extra outputs).
pub fn classifier(net: &FoldedNetwork, views: Views) -> Vec<u8> {
    graph(net, Exposed::Nothing, views).0
}

fn graph(net: &FoldedNetwork, exposed: Exposed, views: Views) -> (Vec<u8>, Vec<String>) {
    let mut g = GraphBuilder::default();
    let [c, h, w] = net.input_chw;
    let batch = Dim::Symbol("N");
    g.input(
        INPUT,
        &[
            batch.clone(),
            Dim::Fixed(c as i64),
            Dim::Fixed(h as i64),
            Dim::Fixed(w as i64),
        ],
    );
    let mut activations = Vec::new();
    let mut pre_activations = Vec::new();
    let mut x = match views {
        Views::Single => INPUT.to_string(),
        Views::Mirrored => views::mirror_inputs(&mut g, INPUT, w),
    };
    let last_dense = net
        .layers
        .iter()
        .rposition(|l| matches!(l.layer, FoldedLayer::Dense(_)));
    let conv = |g: &mut GraphBuilder,
                x: &str,
                conv: &FoldedConv,
                name: &str,
                acts: &mut Vec<String>,
                pres: &mut Vec<String>| {
        let wname = g.f32s(
            &format!("{name}.weight"),
            &[
                conv.spec.out_channels,
                conv.in_channels,
                conv.spec.kernel[0],
                conv.spec.kernel[1],
            ],
            &conv.weight,
        );
        let bname = g.f32s(&format!("{name}.bias"), &[conv.spec.out_channels], &conv.bias);
        let pre = g.node(
            "Conv",
            &format!("{name}/Conv"),
            &[x, &wname, &bname],
            &pre_activation(name),
            conv_attributes(conv),
        );
        pres.push(pre.clone());
        let out = g.node("Relu", &format!("{name}/Relu"), &[&pre], name, vec![]);
        acts.push(out.clone());
        out
    };
    for (index, layer) in net.layers.iter().enumerate() {
        let name = layer.name.as_str();
        x = match &layer.layer {
            FoldedLayer::Conv(c) => conv(&mut g, &x, c, name, &mut activations, &mut pre_activations),
            FoldedLayer::MaxPool(p) => g.node("MaxPool", name, &[&x], name, pool_attributes(p)),
            FoldedLayer::Inception(branches) => {
                let mut outs = Vec::new();
                for (b, branch) in branches.iter().enumerate() {
                    let mut y = x.clone();
                    if let Some(p) = &branch.pool {
                        let pname = format!("{name}/b{b}/pool");
                        y = g.node("MaxPool", &pname, &[&y], &pname, pool_attributes(p));
                    }
                    for (i, c) in branch.convs.iter().enumerate() {
                        y = conv(
                            &mut g,
                            &y,
                            c,
                            &branch_conv_name(name, b, i),
                            &mut activations,
                            &mut pre_activations,
                        );
                    }
                    outs.push(y);
                }
                let refs: Vec<&str> = outs.iter().map(String::as_str).collect();
                let out = g.node("Concat", name, &refs, name, vec![int("axis", 1)]);
                activations.push(out.clone());
                out
            }
            FoldedLayer::Flatten => g.node("Flatten", name, &[&x], name, vec![int("axis", 1)]),
            FoldedLayer::Dense(d) => {
                let out_name = match views {
                    _ if Some(index) != last_dense => name,
                    Views::Single => LOGITS,
                    Views::Mirrored => VIEW_LOGITS,
                };
                let wname = g.f32s(&format!("{name}.weight"), &[d.out_features, d.in_features], &d.weight);
                let bname = g.f32s(&format!("{name}.bias"), &[d.out_features], &d.bias);
                let gemm_out = if d.relu {
                    format!("{name}.pre")
                } else {
                    out_name.to_string()
                };
                let y = g.node(
                    "Gemm",
                    &format!("{name}/Gemm"),
                    &[&x, &wname, &bname],
                    &gemm_out,
                    vec![int("transB", 1)],
                );
                let y = if d.relu {
                    g.node("Relu", &format!("{name}/Relu"), &[&y], out_name, vec![])
                } else {
                    y
                };
                activations.push(y.clone());
                y
            }
        };
    }
    if views == Views::Mirrored {
        views::average_views(&mut g, VIEW_LOGITS, net.num_classes(), LOGITS);
    }
    g.output(LOGITS, Some(&[batch, Dim::Fixed(net.num_classes() as i64)]));
    let exposed = match exposed {
        Exposed::Nothing => Vec::new(),
        Exposed::Activations => activations,
        Exposed::PreActivations => pre_activations,
    };
    for a in exposed.iter().filter(|a| a.as_str() != LOGITS) {
        g.output(a, None);
    }
    (
        g.finish("vigil_fp32", "vigil emotion network, fp32, BatchNorm folded"),
        exposed,
    )
}
