//! Why training stops with an error: every failure of a run, from its configuration to a
//! diverging loss, each naming what to change.

use std::path::PathBuf;

use super::checkpoint::CheckpointError;
use super::config::ConfigError;
use crate::model::ModelError;

/// Training failures.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// An invalid setting.
    #[error("invalid training configuration: {0}")]
    Config(#[from] ConfigError),
    /// Targets that do not match the batch.
    #[error("{values} target values for {images} images of {classes} classes")]
    Targets {
        /// Values given.
        values: usize,
        /// Images in the batch.
        images: usize,
        /// Classes of the network.
        classes: usize,
    },
    /// A split with no image.
    #[error("the {0} split is empty: nothing to train or validate on")]
    EmptySplit(&'static str),
    /// The batch would not fit in memory.
    #[error(
        "batch size {batch_size} needs about {needed_mib} MiB for training activations, but only {available_mib} MiB of memory is available; use --batch-size {suggestion} or less"
    )]
    OutOfMemory {
        /// Requested batch size.
        batch_size: usize,
        /// Estimated need.
        needed_mib: u64,
        /// Available memory.
        available_mib: u64,
        /// A batch size that fits.
        suggestion: usize,
    },
    /// The backend is not compiled in.
    #[error("backend {0} is not compiled in; rebuild with `--features {0}`")]
    Backend(&'static str),
    /// Model construction or inference failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A checkpoint could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// `--init-from` names a model that cannot be read back into trainable weights.
    #[error("--init-from {}: {source}", path.display())]
    InitModel {
        /// The model file.
        path: PathBuf,
        /// Why it cannot be read back.
        #[source]
        source: crate::export::ExportError,
    },
    /// A metrics file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The loss became NaN or infinite.
    #[error("training diverged at epoch {epoch}: loss {loss}; try a lower --lr")]
    Diverged {
        /// 1-based epoch.
        epoch: usize,
        /// The loss seen.
        loss: f64,
    },
}
