//! A small builder for ONNX graphs on top of the protobuf types tract-onnx exposes
//! (`tract_onnx::pb`), so the exported files are read back by the same definitions the edge
//! uses, and stay standard ONNX for other runtimes (opset 13).

use prost::Message;
use tract_onnx::pb::{
    self, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto,
    TypeProto, ValueInfoProto, attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto::dimension,
    type_proto,
};

use super::ExportError;

/// The ONNX opset the graphs are written for.
pub const OPSET: i64 = 13;
/// ONNX IR version matching opset 13.
pub const IR_VERSION: i64 = 7;

/// A dimension of a graph input or output.
#[derive(Debug, Clone)]
pub enum Dim {
    /// A fixed size.
    Fixed(i64),
    /// A named symbolic size (the batch).
    Symbol(&'static str),
}

/// Accumulates nodes, initializers and graph inputs/outputs.
#[derive(Default)]
pub struct GraphBuilder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
}

/// An integer-list attribute.
pub fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

/// An integer attribute.
pub fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

fn value_info(name: &str, elem_type: DataType, dims: Option<&[Dim]>) -> ValueInfoProto {
    let shape = dims.map(|dims| TensorShapeProto {
        dim: dims
            .iter()
            .map(|d| pb::tensor_shape_proto::Dimension {
                value: Some(match d {
                    Dim::Fixed(n) => dimension::Value::DimValue(*n),
                    Dim::Symbol(s) => dimension::Value::DimParam((*s).into()),
                }),
                ..Default::default()
            })
            .collect(),
    });
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: elem_type as i32,
                shape,
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl GraphBuilder {
    /// Declares a float graph input.
    pub fn input(&mut self, name: &str, dims: &[Dim]) {
        self.inputs.push(value_info(name, DataType::Float, Some(dims)));
    }

    /// Declares a float graph output; `dims` may be omitted for intermediate tensors.
    pub fn output(&mut self, name: &str, dims: Option<&[Dim]>) {
        self.outputs.push(value_info(name, DataType::Float, dims));
    }

    fn initializer(&mut self, name: &str, dims: &[usize], data_type: DataType, raw: Vec<u8>) -> String {
        self.initializers.push(TensorProto {
            name: name.into(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: data_type as i32,
            raw_data: raw,
            ..Default::default()
        });
        name.into()
    }

    /// Adds a float constant (little-endian raw data).
    pub fn f32s(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), data.len());
        self.initializer(
            name,
            dims,
            DataType::Float,
            data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    }

    /// Adds an int8 constant.
    pub fn i8s(&mut self, name: &str, dims: &[usize], data: &[i8]) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), data.len());
        self.initializer(name, dims, DataType::Int8, data.iter().map(|&v| v as u8).collect())
    }

    /// Adds an int32 constant.
    pub fn i32s(&mut self, name: &str, dims: &[usize], data: &[i32]) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), data.len());
        self.initializer(
            name,
            dims,
            DataType::Int32,
            data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    }

    /// Adds an int64 constant (indices and shapes).
    pub fn i64s(&mut self, name: &str, dims: &[usize], data: &[i64]) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), data.len());
        self.initializer(
            name,
            dims,
            DataType::Int64,
            data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    }

    /// Adds a node producing `output`; returns the output name.
    pub fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        output: &str,
        attribute: Vec<AttributeProto>,
    ) -> String {
        self.nodes.push(NodeProto {
            op_type: op.into(),
            name: name.into(),
            input: inputs.iter().map(|s| (*s).into()).collect(),
            output: vec![output.into()],
            attribute,
            ..Default::default()
        });
        output.into()
    }

    /// Finishes the model and serialises it to protobuf bytes ([`decode`] reads them back).
    pub fn finish(self, graph_name: &str, doc: &str) -> Vec<u8> {
        let model = ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "vigil-host".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            doc_string: doc.into(),
            graph: Some(GraphProto {
                name: graph_name.into(),
                node: self.nodes,
                initializer: self.initializers,
                input: self.inputs,
                output: self.outputs,
                ..Default::default()
            }),
            ..Default::default()
        };
        model.encode_to_vec()
    }
}

/// Parses ONNX protobuf `bytes` (named `model` in errors): what [`GraphBuilder::finish`]
/// wrote, for the readers that inspect an exported model's graph rather than run it.
pub fn decode(bytes: &[u8], model: &str) -> Result<ModelProto, ExportError> {
    ModelProto::decode(bytes).map_err(|e| ExportError::ReadBack {
        model: model.to_string(),
        why: format!("not an ONNX model: {e}"),
    })
}
