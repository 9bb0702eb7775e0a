//! The Table-1 network as a burn module, built by walking [`shared::arch::Architecture`].
//!
//! Why walk the shared description instead of writing the layers out: the ONNX exporter and
//! the edge read the same [`Architecture`], so a change to the network is made in one place
//! and the trainer cannot drift from what the board runs. [`Network::new`] refuses an
//! architecture whose shapes do not infer, so the forward pass never meets a rank it cannot
//! handle.
//!
//! * [`network`]: the burn modules and the forward passes (training: dropout and batch
//!   statistics; inference: running statistics, no dropout, plain `Vec<f32>` in and out);
//! * [`weights`]: the export of trained weights as plain vectors, per layer / branch / conv in
//!   spec order, and their folding into the exporter's [`crate::export::FoldedNetwork`].

pub mod network;
pub mod weights;

pub use network::{Network, batch_to_tensor};
pub use weights::{
    BatchNormWeights, BranchWeights, ConvWeights, DenseWeights, LayerWeights, LayerWeightsKind, NetworkWeights,
};

use shared::arch::Architecture;

/// Model construction and inference failures.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The architecture's shapes do not infer (see [`Architecture::summary`]).
    #[error("architecture: {0}")]
    Arch(#[from] shared::arch::ArchError),
    /// The architecture is not one this trainer can build.
    #[error("unsupported architecture: {0}")]
    Unsupported(String),
    /// An input batch of the wrong size.
    #[error("input batch holds {got} values, expected {expected} ({n} images of {per_image})")]
    BatchSize {
        /// Values given.
        got: usize,
        /// Values expected.
        expected: usize,
        /// Images requested.
        n: usize,
        /// Values per image.
        per_image: usize,
    },
    /// Reading a tensor back failed.
    #[error("tensor data: {0}")]
    Data(String),
}

/// Values per input image (`c * h * w`) of an architecture with a spatial input.
pub fn input_len(arch: &Architecture) -> usize {
    arch.input.len()
}

#[cfg(test)]
mod tests;
