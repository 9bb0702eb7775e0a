//! Test-time mirroring: a model whose logits are the mean of the network's logits for the
//! face and for its left-right mirror image.
//!
//! Why: the network is trained on randomly mirrored faces, so a face and its mirror image are
//! two equally valid views whose errors only partly coincide; averaging them raised
//! validation accuracy for every in-the-wild model it was tried on (models/REPORT.md,
//! "Test-time mirroring"), for twice the classifier's arithmetic. The views are built inside
//! the exported graph, so every runtime that runs the file (the edge's tract classifier, the
//! release gate, ONNX Runtime) runs the same classifier, and the temperature that `host
//! export` fits on the graph's logits is fitted on the averaged ones. A model exported with
//! [`Views::Single`] is the plain network.
//!
//! In the graph: `input [N,c,h,w]` -> `Concat(input, Gather(input, w-1..0, axis 3), axis 0)`
//! -> the network over `2N` faces -> `Reshape [2, N, classes]` -> `ReduceMean(axis 0)` ->
//! `logits [N, classes]`: batches of any size keep one row per face.

use super::ExportError;
use super::onnx::{GraphBuilder, int, ints};

/// The node that mirrors the input; a graph holding it is a [`Views::Mirrored`] classifier.
const MIRROR_NODE: &str = "views/Mirror";

/// Which views of a face the exported classifier averages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Views {
    /// The face alone: one pass of the network.
    #[default]
    Single,
    /// The face and its mirror image, logits averaged: two passes.
    Mirrored,
}

impl Views {
    /// The views the exported ONNX model `bytes` (named `model` in errors) averages: what a
    /// tool that runs the network without the graph (burn, reading the weights back) must do
    /// to score faces as the model does.
    pub fn of_model(bytes: &[u8], model: &str) -> Result<Views, ExportError> {
        let proto = super::onnx::decode(bytes, model)?;
        let mirrored = proto.graph.iter().flat_map(|g| &g.node).any(|n| n.name == MIRROR_NODE);
        Ok(if mirrored { Views::Mirrored } else { Views::Single })
    }

    /// How the manifest's recipe describes it.
    pub fn describe(self) -> &'static str {
        match self {
            Views::Single => "one view of the face",
            Views::Mirrored => "the mean logits of the face and its mirror image (two passes)",
        }
    }
}

/// Adds the mirror views in front of the network: returns the tensor holding the `N` inputs
/// followed by their `N` mirror images (`width` is the input's last dimension).
pub fn mirror_inputs(g: &mut GraphBuilder, input: &str, width: usize) -> String {
    let reversed: Vec<i64> = (0..width as i64).rev().collect();
    let indices = g.i64s("views.mirror_columns", &[width], &reversed);
    let mirrored = g.node(
        "Gather",
        MIRROR_NODE,
        &[input, &indices],
        "views.mirrored",
        vec![int("axis", 3)],
    );
    g.node(
        "Concat",
        "views/Concat",
        &[input, &mirrored],
        "views.input",
        vec![int("axis", 0)],
    )
}

/// Averages the network's `[2N, classes]` logits of the two views into `output` (`[N,
/// classes]`).
pub fn average_views(g: &mut GraphBuilder, logits: &str, classes: usize, output: &str) -> String {
    let shape = g.i64s("views.shape", &[3], &[2, -1, classes as i64]);
    let split = g.node("Reshape", "views/Reshape", &[logits, &shape], "views.logits", vec![]);
    g.node(
        "ReduceMean",
        "views/Mean",
        &[&split],
        output,
        vec![ints("axes", &[0]), int("keepdims", 0)],
    )
}
