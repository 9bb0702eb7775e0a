//! Where a run's first weights come from: a seeded random start, another run's best
//! checkpoint, or an exported int8 model read back (`--init-from models/vigil-int8.onnx`).
//!
//! Why a model file: checkpoints live on the machine that trained them, the shipped model in
//! the repository. Reading the model back ([`crate::export::read_back`]) and re-expanding its
//! folded BatchNorms ([`Network::unfold`]) with statistics measured on this run's own training
//! images lets fine-tuning continue from what was shipped once that machine is gone. The
//! int8 rounding of the weights comes along; the first epochs of fine-tuning absorb it.

use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use shared::arch::Architecture;

use super::checkpoint;
use super::error::TrainError;
use super::images::ImageSet;
use crate::export::float_graph::{self, Exposed};
use crate::export::{calibrate, read_back};
use crate::model::Network;
use burn::tensor::Device;

/// Training images whose pre-activation moments re-expand a read-back model's BatchNorms.
pub const MOMENT_IMAGES: usize = 512;

/// True when `path` names an exported model (a `.onnx` file) rather than a run directory.
pub fn is_model_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

/// The first model of a new run: `init_from`'s weights, or a seeded random start.
pub fn initial_model(
    init_from: Option<&Path>,
    arch: &Architecture,
    device: &Device,
    seed: u64,
    train: &ImageSet,
) -> Result<Network, TrainError> {
    let Some(path) = init_from else {
        return Ok(Network::seeded(arch, device, seed)?);
    };
    if is_model_file(path) {
        return from_int8_model(path, arch, device, seed, train);
    }
    let dir = checkpoint::best_dir(path);
    let state = checkpoint::load_state(&dir, Some(arch))?;
    tracing::info!(
        "initialising from {} (epoch {} of that run)",
        dir.display(),
        state.best.map_or(state.epochs_done, |b| b.epoch)
    );
    Ok(checkpoint::load_model(&dir, &state, device)?)
}

/// A trainable network from an exported int8 model, its BatchNorm statistics measured on up
/// to [`MOMENT_IMAGES`] of `train` (a seeded sample, un-augmented).
pub fn from_int8_model(
    path: &Path,
    arch: &Architecture,
    device: &Device,
    seed: u64,
    train: &ImageSet,
) -> Result<Network, TrainError> {
    let model_error = |source| TrainError::InitModel {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(path).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let folded = read_back::folded_from_int8(&bytes, &path.display().to_string(), arch).map_err(model_error)?;
    if train.is_empty() {
        return Err(TrainError::EmptySplit("training"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let inputs: Vec<Vec<f32>> = train
        .shuffled(&mut rng)
        .into_iter()
        .take(MOMENT_IMAGES)
        .map(|i| train.inputs[i * train.per_image..(i + 1) * train.per_image].to_vec())
        .collect();
    let (graph, names) = float_graph::build(&folded, Exposed::PreActivations);
    let moments = calibrate::channel_moments(&graph, folded.input_chw, &names, &inputs).map_err(model_error)?;
    tracing::info!(
        "initialising from {} (int8 weights read back; BatchNorm statistics of {} training images)",
        path.display(),
        inputs.len()
    );
    Ok(Network::unfold(arch, &folded, &moments, device)?)
}
