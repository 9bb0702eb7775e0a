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
use crate::data::{DataSelection, DatasetKind, SplitProtocol};
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

/// The first model of a new run whose data is `run`: `init_from`'s weights, or a seeded
/// random start.
pub fn initial_model(
    init_from: Option<&Path>,
    arch: &Architecture,
    device: &Device,
    run: &DataSelection,
    train: &ImageSet,
) -> Result<Network, TrainError> {
    let Some(path) = init_from else {
        return Ok(Network::seeded(arch, device, run.seed)?);
    };
    if is_model_file(path) {
        // The weights used are the bytes whose manifest was checked.
        let bytes = match artifacts::manifest::load_verified(path) {
            Ok((bytes, m)) => {
                warn_on_other_split(path, (&m.datasets, m.split, m.seed), run);
                bytes
            }
            Err(e) => {
                tracing::warn!(
                    "{e}: what {} was trained on is unknown, so whether this run's validation and \
                     test faces were among its training faces cannot be checked",
                    path.display()
                );
                read_model(path)?
            }
        };
        return from_int8_bytes(path, &bytes, arch, device, run.seed, train);
    }
    let dir = checkpoint::best_dir(path);
    let state = checkpoint::load_state(&dir, Some(arch))?;
    let source = &state.config.data;
    warn_on_other_split(&dir, (&source.datasets, source.protocol, source.seed), run);
    tracing::info!(
        "initialising from {} (epoch {} of that run)",
        dir.display(),
        state.best.map_or(state.epochs_done, |b| b.epoch)
    );
    Ok(checkpoint::load_model(&dir, &state, device)?)
}

/// The warning for starting weights trained on some of this run's datasets split another way
/// (protocol or seed), if they were: faces in this run's validation and test parts may then
/// be training faces of the starting weights, which makes the run's figures on them
/// optimistic. Not an error: fine-tuning across splits is legitimate when its figures are
/// read with that in mind (REPORT, "The paper-split model").
fn other_split(source: (&[DatasetKind], SplitProtocol, u64), run: &DataSelection) -> Option<String> {
    let (datasets, protocol, seed) = source;
    let shared: Vec<&str> = run
        .datasets
        .iter()
        .filter(|k| datasets.contains(k))
        .map(|k| k.name())
        .collect();
    if shared.is_empty() || (protocol == run.protocol && seed == run.seed) {
        return None;
    }
    Some(format!(
        "they were trained on {} split by the {} protocol with seed {seed}, this run splits them by \
         the {} protocol with seed {}: some of its validation and test faces may have been their \
         training faces, so its figures on those are optimistic",
        shared.join(", "),
        protocol.name(),
        run.protocol.name(),
        run.seed
    ))
}

fn warn_on_other_split(path: &Path, source: (&[DatasetKind], SplitProtocol, u64), run: &DataSelection) {
    if let Some(why) = other_split(source, run) {
        tracing::warn!("starting weights {}: {why}", path.display());
    }
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
    from_int8_bytes(path, &read_model(path)?, arch, device, seed, train)
}

fn read_model(path: &Path) -> Result<Vec<u8>, TrainError> {
    std::fs::read(path).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// [`from_int8_model`] of the model file `path` already read as `bytes`.
fn from_int8_bytes(
    path: &Path,
    bytes: &[u8],
    arch: &Architecture,
    device: &Device,
    seed: u64,
    train: &ImageSet,
) -> Result<Network, TrainError> {
    let model_error = |source| TrainError::InitModel {
        path: path.to_path_buf(),
        source,
    };
    let folded = read_back::folded_from_int8(bytes, &path.display().to_string(), arch).map_err(model_error)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_from_another_split_of_the_same_data_are_flagged() {
        let run = DataSelection {
            datasets: vec![DatasetKind::CkPlus, DatasetKind::Jaffe],
            protocol: SplitProtocol::Paper,
            seed: 42,
            ..crate::train::TrainConfig::default().data
        };
        let wild = [DatasetKind::FerPlus, DatasetKind::CkPlus, DatasetKind::Jaffe];
        let why = other_split((&wild, SplitProtocol::Subject, 42), &run).expect("flagged");
        assert!(why.contains("ckplus, jaffe") && why.contains("subject"), "{why}");
        let why = other_split((&run.datasets, SplitProtocol::Paper, 7), &run).expect("flagged");
        assert!(why.contains("seed 7"), "{why}");
        assert_eq!(
            other_split((&run.datasets, SplitProtocol::Paper, 42), &run),
            None,
            "same split"
        );
        assert_eq!(
            other_split((&[DatasetKind::FerPlus], SplitProtocol::Subject, 42), &run),
            None,
            "no dataset in common"
        );
    }
}
