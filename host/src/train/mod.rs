//! Training the Table-1 network with burn: configuration, learning-rate schedules, the
//! training loop, and checkpoints.
//!
//! Why a hand-written loop rather than burn's `Learner`: the paper's learning-rate rule needs
//! the validation loss of whole epochs, checkpoints must record the architecture, and Ctrl-C
//! must save and exit; all three are a few lines here and awkward to bolt onto a generic
//! learner. The loop keeps data off the hot path ([`images`]) and is deterministic for a given
//! seed (splits, initialisation, shuffling and dropout all derive from it).

pub mod augment;
pub mod average;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod images;
pub mod init;
pub mod mixup;
pub mod objective;
pub mod optim;
pub mod resources;
pub mod schedule;
pub mod trainer;

use serde::{Deserialize, Serialize};

pub use checkpoint::{CheckpointError, CheckpointState};
pub use config::{BackendKind, Recipe, TrainConfig};
pub use images::ImageSet;
pub use resources::device_for;
pub use schedule::{Schedule, ScheduleKind};
pub use trainer::{TrainError, TrainOutcome, Trainer};

/// One row of the metrics CSV.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (dropout active).
    pub train_loss: f64,
    /// Training accuracy over the epoch (0..1, dropout active).
    pub train_acc: f64,
    /// Validation loss (inference mode).
    pub val_loss: f64,
    /// Validation accuracy (0..1).
    pub val_acc: f64,
    /// Learning rate used in the epoch.
    pub lr: f64,
    /// Wall time of the epoch, training and validation.
    pub seconds: f64,
    /// Training time per training image (forward + backward + update), milliseconds.
    pub ms_per_image: f64,
}

/// A row of a CSV file the trainer rewrites whole every epoch (so a resumed run's file is
/// complete): `metrics.csv`, `average.csv`.
pub trait CsvRow {
    /// The header line, matching [`CsvRow::csv_row`].
    const CSV_HEADER: &'static str;
    /// One line (no newline).
    fn csv_row(&self) -> String;
}

impl CsvRow for EpochMetrics {
    const CSV_HEADER: &'static str = "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,ms_per_image";

    fn csv_row(&self) -> String {
        format!(
            "{},{:.6},{:.6},{:.6},{:.6},{:.6e},{:.3},{:.3}",
            self.epoch,
            self.train_loss,
            self.train_acc,
            self.val_loss,
            self.val_acc,
            self.lr,
            self.seconds,
            self.ms_per_image
        )
    }
}

/// Writes a CSV file of `rows` under their header.
pub fn write_csv<R: CsvRow>(path: &std::path::Path, rows: &[R]) -> std::io::Result<()> {
    let mut text = String::from(R::CSV_HEADER);
    text.push('\n');
    for row in rows {
        text.push_str(&row.csv_row());
        text.push('\n');
    }
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests;
