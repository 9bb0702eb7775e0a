//! Checkpoints: the weights (burn's burnpack record), the Adam state, and a JSON file with
//! the format version, the architecture, the run configuration and the epoch history.
//!
//! Why the architecture goes into the checkpoint: burn's record only matches tensors by path
//! and shape, so weights trained for another reading of Table 1 could fail deep inside burn or,
//! worse, load partly. Comparing the recorded [`Architecture`] first gives a clear error that
//! names the first layer that differs.
//!
//! Layout under the run directory: `checkpoints/last/` (every epoch, and on Ctrl-C) and
//! `checkpoints/best/` (best validation accuracy, ties broken by lower validation loss). Each
//! is written to a temporary sibling and renamed into place, so a crash mid-write never leaves
//! a half checkpoint where the last good one was.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use shared::arch::Architecture;

use super::EpochMetrics;
use super::average::{AverageState, float_tensors, with_float_tensors};
use super::config::TrainConfig;
use crate::model::{ModelError, Network};

/// Version of the checkpoint layout; bumped when the JSON or the module tree changes.
pub const CHECKPOINT_FORMAT_VERSION: u32 = 1;

/// File names inside a checkpoint directory.
pub const MODEL_FILE: &str = "model.bpk";
/// Adam state.
pub const OPTIMIZER_FILE: &str = "optimizer.bpk";
/// The running weight average ([`super::average`]), in `last` when the run averages.
pub const AVERAGE_FILE: &str = "average.bpk";
/// [`CheckpointState`] as JSON.
pub const STATE_FILE: &str = "state.json";
/// Environment variable naming a point where [`save`] aborts the process, for crash tests.
pub const FAILPOINT_ENV: &str = "VIGIL_FAILPOINT";
/// [`FAILPOINT_ENV`] value: abort with the previous checkpoint moved aside and the new one
/// complete but not yet renamed in.
pub const FAILPOINT_BETWEEN_RENAMES: &str = "checkpoint-between-renames";

/// Checkpoint failures.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No checkpoint where one was expected.
    #[error("no checkpoint at {0} (expected {STATE_FILE} and {MODEL_FILE})")]
    Missing(PathBuf),
    /// The JSON state is not a checkpoint state.
    #[error("{path}: not a vigil checkpoint state: {why}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        why: String,
    },
    /// Written by another checkpoint format.
    #[error("{path}: checkpoint format {found}, this trainer reads format {CHECKPOINT_FORMAT_VERSION}")]
    Version {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
    /// Trained for another architecture.
    #[error("{path}: checkpoint is for another architecture ({detail}); it cannot be loaded into this network")]
    Architecture {
        /// The checkpoint directory.
        path: PathBuf,
        /// The first difference.
        detail: String,
    },
    /// burn refused the weights or optimizer record.
    #[error("{path}: {why}")]
    Record {
        /// The file.
        path: PathBuf,
        /// burn's message.
        why: String,
    },
    /// The network could not be built.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// The best validation result so far.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Best {
    /// 1-based epoch.
    pub epoch: usize,
    /// Validation accuracy (0..1).
    pub val_acc: f64,
    /// Validation loss.
    pub val_loss: f64,
    /// When the best is the weight average of that epoch: how many snapshots it averages.
    #[serde(default)]
    pub averaged: Option<usize>,
}

impl Best {
    /// Whether `(acc, loss)` beats this: higher accuracy, or equal accuracy and lower loss.
    pub fn beaten_by(&self, acc: f64, loss: f64) -> bool {
        acc > self.val_acc || (acc == self.val_acc && loss < self.val_loss)
    }
}

/// Everything about a run except its tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// [`CHECKPOINT_FORMAT_VERSION`] when written.
    pub format_version: u32,
    /// The network's description.
    pub architecture: Architecture,
    /// The run's configuration.
    pub config: TrainConfig,
    /// Completed epochs.
    pub epochs_done: usize,
    /// Learning rate for the next epoch.
    pub next_lr: f64,
    /// One row per completed epoch.
    pub history: Vec<EpochMetrics>,
    /// Best validation so far.
    pub best: Option<Best>,
    /// Written in the middle of epoch `epochs_done + 1` (stopped, or a periodic save): its
    /// partial updates are in the weights. A resume continues it from [`Self::partial`]; an
    /// older checkpoint without that restarts the epoch.
    pub interrupted: bool,
    /// Where the unfinished epoch `epochs_done + 1` stood when this was written; `None` at an
    /// epoch's end.
    #[serde(default)]
    pub partial: Option<PartialEpoch>,
    /// The weight average so far, when the run averages and an epoch has added to it.
    #[serde(default)]
    pub average: Option<AverageState>,
}

/// How far an unfinished epoch got, so that a resume continues it batch for batch: the same
/// shuffled order from the next batch on, the augmentation RNG where it was, the running
/// sums of the epoch's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PartialEpoch {
    /// The epoch (1-based).
    pub epoch: usize,
    /// Batches of its order trained on (their updates are in the weights).
    pub batches: usize,
    /// Words the epoch's augmentation RNG had produced by then.
    pub rng_words: u64,
    /// Sum of those batches' mean losses.
    pub loss_sum: f64,
    /// Training images classified right in them.
    pub correct: usize,
    /// Training images in them.
    pub images: usize,
    /// Seconds spent on them.
    pub seconds: f64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn record_err(path: &Path) -> impl FnOnce(burn::store::RecordError) -> CheckpointError + '_ {
    move |e| CheckpointError::Record {
        path: path.to_path_buf(),
        why: e.to_string(),
    }
}

/// `.<name>.<suffix>` beside `dir`.
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.with_file_name(format!(".{name}.{suffix}"))
}

/// An empty staging directory beside `dir` (`.<name>.tmp`) to write a checkpoint's files
/// into before [`swap_in`] puts it in place.
pub fn stage(dir: &Path) -> Result<PathBuf, CheckpointError> {
    let tmp = sibling(dir, "tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    Ok(tmp)
}

/// Syncs every file in the staging directory `tmp` and puts it in place of `dir`. The previous
/// checkpoint stays complete until the new one is: it is moved aside (`.<name>.old`), the new
/// one renamed in, and only then removed. A crash between the two renames leaves the old one
/// aside, which [`restore_aside`] puts back.
pub fn swap_in(tmp: &Path, dir: &Path) -> Result<(), CheckpointError> {
    for entry in std::fs::read_dir(tmp).map_err(io(tmp))? {
        let path = entry.map_err(io(tmp))?.path();
        if path.is_file() {
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io(&path))?;
        }
    }
    let old = sibling(dir, "old");
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(io(dir))?;
        if std::env::var_os(FAILPOINT_ENV).is_some_and(|v| v == FAILPOINT_BETWEEN_RENAMES) {
            // The crash test's way to die at the worst moment (host/tests/crash_resume.rs).
            std::process::abort();
        }
    }
    std::fs::rename(tmp, dir).map_err(io(dir))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    Ok(())
}

/// Puts back the checkpoint a save interrupted between its two renames left aside: when `dir`
/// is missing and `.<name>.old` holds every file of `required`.
pub fn restore_aside(dir: &Path, required: &[&str]) -> Result<(), CheckpointError> {
    let old = sibling(dir, "old");
    if !dir.exists() && required.iter().all(|f| old.join(f).is_file()) {
        tracing::warn!(
            "{} is missing; restoring the previous checkpoint {}",
            dir.display(),
            old.display()
        );
        std::fs::rename(&old, dir).map_err(io(dir))?;
    }
    Ok(())
}

/// Writes a checkpoint directory atomically ([`stage`], [`swap_in`]): model, optionally the
/// optimizer and the weight average (its values, [`super::average::float_tensors`]'s order),
/// and state.
pub fn save(
    dir: &Path,
    model: &Network,
    optimizer: Option<&ModuleOptimizer>,
    average: Option<&[Vec<f32>]>,
    state: &CheckpointState,
) -> Result<(), CheckpointError> {
    // BatchNorm's running statistics are burn `RunningState`s, which record their last
    // synchronised value: one update behind right after a training step. `valid()`
    // synchronises them (they are shared with the copy it returns).
    let _synchronised = model.valid();
    let tmp = stage(dir)?;
    let model_path = tmp.join(MODEL_FILE);
    model.clone().save_file(&model_path).map_err(record_err(&model_path))?;
    if let Some(optimizer) = optimizer {
        let path = tmp.join(OPTIMIZER_FILE);
        optimizer.save(&path).map_err(record_err(&path))?;
    }
    if let Some(values) = average {
        let path = tmp.join(AVERAGE_FILE);
        let network = with_float_tensors(Network::new(model.arch(), &model.device())?, values)?;
        network.save_file(&path).map_err(record_err(&path))?;
    }
    let state_path = tmp.join(STATE_FILE);
    let json = serde_json::to_vec_pretty(state).map_err(|e| CheckpointError::Corrupt {
        path: state_path.clone(),
        why: e.to_string(),
    })?;
    std::fs::write(&state_path, json).map_err(io(&state_path))?;
    swap_in(&tmp, dir)
}

/// The first difference between two architectures, in words.
pub fn describe_difference(found: &Architecture, wanted: &Architecture) -> Option<String> {
    if found == wanted {
        return None;
    }
    if found.input != wanted.input {
        return Some(format!("input {} vs {}", found.input, wanted.input));
    }
    for (i, (a, b)) in found.layers.iter().zip(&wanted.layers).enumerate() {
        if a != b {
            return Some(format!(
                "layer {i} ({}) is {:?}, this network has {:?}",
                a.name, a.kind, b.kind
            ));
        }
    }
    Some(format!("{} layers vs {}", found.layers.len(), wanted.layers.len()))
}

/// Reads and checks a checkpoint's state against the architecture it must hold.
pub fn load_state(dir: &Path, wanted: Option<&Architecture>) -> Result<CheckpointState, CheckpointError> {
    let path = dir.join(STATE_FILE);
    if !path.is_file() {
        restore_aside(dir, &[STATE_FILE, MODEL_FILE])?;
    }
    if !path.is_file() || !dir.join(MODEL_FILE).is_file() {
        return Err(CheckpointError::Missing(dir.to_path_buf()));
    }
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    // Read the version first, so a future format is reported as such, not as a parse error.
    #[derive(Deserialize)]
    struct Version {
        format_version: u32,
    }
    let version: Version = serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Corrupt {
        path: path.clone(),
        why: e.to_string(),
    })?;
    if version.format_version != CHECKPOINT_FORMAT_VERSION {
        return Err(CheckpointError::Version {
            path,
            found: version.format_version,
        });
    }
    let state: CheckpointState = serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Corrupt {
        path: path.clone(),
        why: e.to_string(),
    })?;
    if let Some(wanted) = wanted
        && let Some(detail) = describe_difference(&state.architecture, wanted)
    {
        return Err(CheckpointError::Architecture {
            path: dir.to_path_buf(),
            detail,
        });
    }
    Ok(state)
}

/// Loads a checkpoint's network (built from the architecture it records) onto `device`.
pub fn load_model(dir: &Path, state: &CheckpointState, device: &Device) -> Result<Network, CheckpointError> {
    let model = Network::new(&state.architecture, device)?;
    let path = dir.join(MODEL_FILE);
    model.try_load_file(&path).map_err(record_err(&path))
}

/// The weight average saved beside the weights, as values, when `state` records one.
pub fn load_average(
    dir: &Path,
    state: &CheckpointState,
    device: &Device,
) -> Result<Option<Vec<Vec<f32>>>, CheckpointError> {
    if state.average.is_none() {
        return Ok(None);
    }
    let path = dir.join(AVERAGE_FILE);
    if !path.is_file() {
        return Err(CheckpointError::Io {
            path,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the checkpoint state records a weight average, but its file is missing",
            ),
        });
    }
    let model = Network::new(&state.architecture, device)?;
    let model = model.try_load_file(&path).map_err(record_err(&path))?;
    Ok(Some(float_tensors(&model)))
}

/// Loads the optimizer state saved beside the weights, if there is one.
pub fn load_optimizer(dir: &Path, optimizer: ModuleOptimizer) -> Result<ModuleOptimizer, CheckpointError> {
    let path = dir.join(OPTIMIZER_FILE);
    if !path.is_file() {
        return Ok(optimizer);
    }
    optimizer.load(&path).map_err(record_err(&path))
}

/// `<run>/checkpoints/last`.
pub fn last_dir(run: &Path) -> PathBuf {
    run.join("checkpoints").join("last")
}

/// `<run>/checkpoints/best`.
pub fn best_dir(run: &Path) -> PathBuf {
    run.join("checkpoints").join("best")
}
