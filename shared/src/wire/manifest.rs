//! The manifests written beside model files: what a model is, how it was made and how to
//! trust it. They travel on the wire too ([`super::Message::Manifest`]), so their encoding is
//! pinned by the same golden vectors.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::dataset::{DatasetKind, SplitProtocol};
use crate::labels::Emotion;
use crate::preprocess::Preprocessing;

/// How the model's numbers are stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Quantization {
    /// Plain 32-bit floats.
    Float32,
    /// Static post-training int8 quantisation.
    Int8 {
        /// E.g. "per-channel symmetric weights, per-tensor asymmetric activations, QDQ".
        scheme: String,
        /// Activation calibration method, e.g. "minmax" or "percentile-99.99".
        calibration: String,
        /// Number of calibration images.
        calibration_images: u32,
    },
}

/// A named evaluation figure, e.g. ("ckplus/paper/test accuracy", 0.98).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// What was measured.
    pub name: String,
    /// The value.
    pub value: f32,
}

/// Everything the edge needs to trust and use a model file; written beside each model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelManifest {
    /// [`WIRE_VERSION`](super::WIRE_VERSION) of the writer.
    pub format_version: u16,
    /// Model name (file stem).
    pub name: String,
    /// Output classes in output order.
    pub labels: Vec<Emotion>,
    /// Input shape (N=1 implied): channels, height, width.
    pub input_chw: [u32; 3],
    /// Preprocessing the model was trained with.
    pub preprocessing: Preprocessing,
    /// Number format.
    pub quantization: Quantization,
    /// Datasets used for training, written by name (`["ferplus", "ckplus", "jaffe"]`).
    #[serde(with = "crate::dataset::by_name::list")]
    pub datasets: Vec<DatasetKind>,
    /// Split protocol the test figures were measured under, written by name (`"subject"`).
    #[serde(with = "crate::dataset::by_name")]
    pub split: SplitProtocol,
    /// Seed of splits, initialisation and shuffling.
    pub seed: u64,
    /// Test metrics.
    pub metrics: Vec<Metric>,
    /// Lower-case hex SHA-256 of the model file.
    pub sha256: String,
    /// Softmax temperature fitted on validation data: scores are `softmax(logits / t)`, so
    /// that a score of 0.6 is right about 60% of the time. Manifests without it mean 1.
    #[serde(default = "unit_temperature")]
    pub temperature: f32,
    /// How the model was trained, in words (targets, augmentation, optimiser, schedule,
    /// epochs), for people reading the manifest; empty in older manifests.
    #[serde(default)]
    pub recipe: String,
    /// The learned face enhancer the model was trained behind, if any: every crop goes through
    /// it before the recipe's classical enhancement. The runtime refuses the model unless the
    /// named file sits beside it with this hash.
    #[serde(default)]
    pub enhancer: Option<EnhancerRef>,
}

/// The learned enhancer a classifier expects, as its manifest names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnhancerRef {
    /// File name of the enhancer's ONNX model, in the classifier's directory.
    pub file: String,
    /// Lower-case hex SHA-256 of that file.
    pub sha256: String,
}

/// The manifest beside an exported enhancer (`x.onnx` -> `x.manifest.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnhancerManifest {
    /// [`WIRE_VERSION`](super::WIRE_VERSION) of the writer.
    pub format_version: u16,
    /// Model name (file stem).
    pub name: String,
    /// The network's widths.
    pub spec: crate::enhancer::FfaSpec,
    /// Input and output side (one grey channel, pixels on the 0..1 scale).
    pub side: u32,
    /// Number format.
    pub quantization: Quantization,
    /// Restoration figures on held-out degraded faces, e.g. ("test psnr db", 21.9).
    pub metrics: Vec<Metric>,
    /// How it was trained, in words.
    pub recipe: String,
    /// Lower-case hex SHA-256 of the model file.
    pub sha256: String,
}

fn unit_temperature() -> f32 {
    1.0
}
