//! An int8 model written by [`super::int8_graph`] read back into fp32 folded weights: the
//! inverse of quantisation, up to its rounding.
//!
//! Why: a run's checkpoints live on one machine, while the shipped model lives in the
//! repository. Reading the model back lets a new run start from what was shipped (`host
//! train --init-from models/vigil-int8.onnx`) after the machine that trained it is gone. The
//! weights come back exactly as the board runs them (int8 times scale); BatchNorm stays
//! folded here and is re-expanded for training by [`crate::model::Network::unfold`].
//!
//! The walk follows the architecture and the exporter's tensor names (`{conv}.weight_q`,
//! `.weight_scale`, `.x.scale`, `.bias_q`, or a float `.bias` for the output layer, or float
//! `.weight` and `.bias` for the first layer; a dense layer split into `{name}/part{k}`), so a
//! model of another architecture, or one not written by this exporter, is refused with the
//! tensor that does not match.

use std::collections::HashMap;

use shared::arch::Architecture;
use tract_onnx::pb::{TensorProto, tensor_proto::DataType};

use super::ExportError;
use super::float_graph::branch_conv_name;
use super::folded::{FoldedConv, FoldedDense, FoldedLayer, FoldedNetwork};

/// The initialisers of a model, by name.
struct Initializers<'m> {
    model: &'m str,
    tensors: HashMap<&'m str, &'m TensorProto>,
}

impl<'m> Initializers<'m> {
    fn error(&self, why: impl Into<String>) -> ExportError {
        ExportError::ReadBack {
            model: self.model.to_string(),
            why: why.into(),
        }
    }

    fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    fn get(&self, name: &str, data_type: DataType, dims: Option<&[usize]>) -> Result<&'m TensorProto, ExportError> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| self.error(format!("no tensor {name} (not an int8 model of this architecture)")))?;
        if t.data_type != data_type as i32 {
            return Err(self.error(format!(
                "{name}: data type {} where {data_type:?} was expected",
                t.data_type
            )));
        }
        if let Some(dims) = dims {
            let got: Vec<usize> = t
                .dims
                .iter()
                .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
                .collect();
            if got != dims {
                return Err(self.error(format!("{name}: shape {got:?} where {dims:?} was expected")));
            }
        }
        Ok(t)
    }

    /// The values of the tensor `name`, which must hold `data_type` (float, int8 or int32)
    /// and, when given, have shape `dims`, as f32: from `raw_data` (little-endian) or from
    /// the typed field ONNX keeps them in otherwise.
    fn values(&self, name: &str, data_type: DataType, dims: Option<&[usize]>) -> Result<Vec<f32>, ExportError> {
        let t = self.get(name, data_type, dims)?;
        let raw = &t.raw_data;
        let values: Vec<f32> = match (data_type, raw.is_empty()) {
            (DataType::Float, true) => t.float_data.clone(),
            (DataType::Float, false) => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            (DataType::Int8 | DataType::Int32, true) => t.int32_data.iter().map(|&v| v as f32).collect(),
            (DataType::Int8, false) => raw.iter().map(|&b| f32::from(b as i8)).collect(),
            (DataType::Int32, false) => raw
                .chunks_exact(4)
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32)
                .collect(),
            _ => return Err(self.error(format!("{name}: {data_type:?} tensors are not read back"))),
        };
        let expected = t.dims.iter().product::<i64>();
        if values.len() as i64 != expected || values.iter().any(|v| !v.is_finite()) {
            return Err(self.error(format!(
                "{name}: {} finite values where its shape holds {expected}",
                values.iter().filter(|v| v.is_finite()).count()
            )));
        }
        Ok(values)
    }

    /// The fp32 weights `[out, in, kh, kw]` and bias of the QLinearConv named `name`, of
    /// the float output layer (int8 weights, a float bias `{name}.bias`), or of the float
    /// first layer (float weights `{name}.weight` and bias).
    fn conv(&self, name: &str, dims: [usize; 4]) -> Result<(Vec<f32>, Vec<f32>), ExportError> {
        let [out, ..] = dims;
        let float_weight = format!("{name}.weight");
        if self.has(&float_weight) {
            let weight = self.values(&float_weight, DataType::Float, Some(&dims))?;
            let bias = self.values(&format!("{name}.bias"), DataType::Float, Some(&[out]))?;
            return Ok((weight, bias));
        }
        let q = self.values(&format!("{name}.weight_q"), DataType::Int8, Some(&dims))?;
        let scales = self.values(&format!("{name}.weight_scale"), DataType::Float, None)?;
        let scale = |o: usize| match scales.len() {
            1 => Ok(scales[0]),
            n if n == out => Ok(scales[o]),
            n => Err(self.error(format!("{name}.weight_scale: {n} scales for {out} output channels"))),
        };
        let per_out = q.len() / out.max(1);
        let mut weight = Vec::with_capacity(q.len());
        for (o, row) in q.chunks_exact(per_out.max(1)).enumerate() {
            let s = scale(o)?;
            weight.extend(row.iter().map(|&v| v * s));
        }
        let float_bias = format!("{name}.bias");
        let bias = if self.has(&float_bias) {
            self.values(&float_bias, DataType::Float, Some(&[out]))?
        } else {
            let bias_q = self.values(&format!("{name}.bias_q"), DataType::Int32, Some(&[out]))?;
            let x_scale = self.values(&format!("{name}.x.scale"), DataType::Float, Some(&[]))?[0];
            (0..out)
                .map(|o| scale(o).map(|s| bias_q[o] * x_scale * s))
                .collect::<Result<_, ExportError>>()?
        };
        Ok((weight, bias))
    }

    fn read_conv(&self, name: &str, conv: &mut FoldedConv) -> Result<(), ExportError> {
        let dims = [
            conv.spec.out_channels,
            conv.in_channels,
            conv.spec.kernel[0],
            conv.spec.kernel[1],
        ];
        (conv.weight, conv.bias) = self.conv(name, dims)?;
        Ok(())
    }

    /// A dense layer: one QLinearConv named `name`, or parts `{name}/part{k}` split by
    /// output rows (see [`super::int8_graph::MAX_FOLDED_KERNEL`]).
    fn read_dense(&self, name: &str, dense: &mut FoldedDense, kernel: [usize; 3]) -> Result<(), ExportError> {
        let [ic, kh, kw] = kernel;
        let parts: Vec<String> = if self.has(&format!("{name}.weight_q")) {
            vec![name.to_string()]
        } else {
            (0..)
                .map(|k| format!("{name}/part{k}"))
                .take_while(|p| self.has(&format!("{p}.weight_q")))
                .collect()
        };
        if parts.is_empty() {
            return Err(self.error(format!(
                "no tensor {name}.weight_q (not an int8 model of this architecture)"
            )));
        }
        let (mut weight, mut bias) = (Vec::new(), Vec::new());
        for part in &parts {
            let rows = self
                .tensors
                .get(format!("{part}.weight_q").as_str())
                .and_then(|t| t.dims.first())
                .and_then(|&d| usize::try_from(d).ok())
                .unwrap_or(0);
            let (w, b) = self.conv(part, [rows, ic, kh, kw])?;
            weight.extend(w);
            bias.extend(b);
        }
        if bias.len() != dense.out_features {
            return Err(self.error(format!(
                "{name}: {} outputs where the architecture has {}",
                bias.len(),
                dense.out_features
            )));
        }
        dense.weight = weight;
        dense.bias = bias;
        Ok(())
    }
}

/// Reads the int8 ONNX model `bytes` (named `model` in errors) back into the fp32 folded
/// network of `arch`: each int8 weight is its value times its scale, each int32 bias its
/// value times input scale times weight scale, and float weights and biases are as stored.
pub fn folded_from_int8(bytes: &[u8], model: &str, arch: &Architecture) -> Result<FoldedNetwork, ExportError> {
    let proto = super::onnx::decode(bytes, model)?;
    let graph = proto.graph.as_ref().ok_or_else(|| ExportError::ReadBack {
        model: model.to_string(),
        why: "the ONNX model has no graph".into(),
    })?;
    let init = Initializers {
        model,
        tensors: graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect(),
    };
    // The random network supplies the shapes; every weight in it is then replaced.
    let mut net = FoldedNetwork::random(arch, 0)?;
    let mut spatial = arch.input;
    let mut flat_from: Option<[usize; 3]> = None;
    for layer in &mut net.layers {
        let name = layer.name.clone();
        match &mut layer.layer {
            FoldedLayer::Conv(conv) => {
                init.read_conv(&name, conv)?;
                spatial = conv.spec.output(&name, spatial)?;
            }
            FoldedLayer::MaxPool(p) => spatial = p.output(&name, spatial)?,
            FoldedLayer::Inception(branches) => {
                let mut channels = 0;
                let mut out = spatial;
                for (bi, branch) in branches.iter_mut().enumerate() {
                    let mut s = spatial;
                    if let Some(p) = &branch.pool {
                        s = p.output(&name, s)?;
                    }
                    for (ci, conv) in branch.convs.iter_mut().enumerate() {
                        init.read_conv(&branch_conv_name(&name, bi, ci), conv)?;
                        s = conv.spec.output(&name, s)?;
                    }
                    if let shared::arch::Shape::Spatial { c, .. } = s {
                        channels += c;
                    }
                    out = s;
                }
                spatial = match out {
                    shared::arch::Shape::Spatial { h, w, .. } => shared::arch::Shape::Spatial { h, w, c: channels },
                    flat => flat,
                };
            }
            FoldedLayer::Flatten => {
                flat_from = Some(match spatial {
                    shared::arch::Shape::Spatial { h, w, c } => [c, h, w],
                    shared::arch::Shape::Flat(n) => [n, 1, 1],
                });
                spatial = shared::arch::Shape::Flat(spatial.len());
            }
            FoldedLayer::Dense(d) => {
                let kernel = flat_from.take().unwrap_or([d.in_features, 1, 1]);
                init.read_dense(&name, d, kernel)?;
                spatial = shared::arch::Shape::Flat(d.out_features);
            }
        }
    }
    Ok(net)
}
