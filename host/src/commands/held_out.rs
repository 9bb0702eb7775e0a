//! The options `host robustness` and `host alerts` share: an exported classifier and the
//! clean held-out faces of the split it was trained and tested on.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use shared::wire::ModelManifest;

use crate::data::{DatasetKind, PrepareConfig, SplitName};
use crate::eval::robustness;
use crate::export::TractRunner;

/// An exported model and where its faces come from.
#[derive(Debug, Clone, Args)]
pub struct HeldOutArgs {
    /// The classifier (ONNX with its manifest beside it) [default: the shipped models/vigil-int8.onnx].
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Directory with the datasets (default: $VIGIL_DATA, else ../shared/data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Prepared-data cache of faces without enhancement (`host train-enhancer` makes one;
    /// made here when missing).
    #[arg(long, default_value = "prepared-clean")]
    pub cache: PathBuf,
    /// Trust complete cache files without listing the dataset directories.
    #[arg(long)]
    pub cache_only: bool,
    /// Which part of the split (the model's protocol and seed, from its manifest).
    #[arg(long, value_enum, default_value_t = SplitName::Test)]
    pub split: SplitName,
}

/// The model of [`HeldOutArgs`], loaded.
pub struct LoadedModel {
    /// Its path.
    pub path: PathBuf,
    /// Its manifest, checked against the file.
    pub manifest: ModelManifest,
    /// The graph, ready to run in tract.
    pub runner: TractRunner,
}

impl HeldOutArgs {
    /// Loads the model (the shipped one by default) and checks it against its manifest.
    pub fn load_model(&self) -> Result<LoadedModel> {
        let path = match &self.model {
            Some(path) => path.clone(),
            None => artifacts::shipped::find(artifacts::shipped::MODEL, "--model")?,
        };
        let (bytes, manifest) = artifacts::manifest::load_verified(&path)?;
        let chw = manifest.input_chw.map(|d| d as usize);
        let runner = TractRunner::new(&bytes, chw).with_context(|| format!("loading {}", path.display()))?;
        Ok(LoadedModel { path, manifest, runner })
    }

    /// The preparation of the clean faces of `datasets` under `manifest`'s split.
    pub fn faces(&self, manifest: &ModelManifest, datasets: Vec<DatasetKind>) -> Result<PrepareConfig> {
        Ok(PrepareConfig {
            verify_sources: !self.cache_only,
            ..robustness::clean_faces(
                manifest,
                datasets,
                self.data.clone().unwrap_or_else(artifacts::data::default_dir),
                self.cache.clone(),
            )?
        })
    }
}
