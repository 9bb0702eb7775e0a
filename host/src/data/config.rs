//! The data pipeline's settings, with their defaults in one place.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use shared::labels::ContemptPolicy;
use shared::preprocess::Preprocessing;

use super::{DataError, DatasetKind, SplitProtocol, detect_layout};

/// Class balancing by Gaussian noise (paper, section 4.2 step 4).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BalanceConfig {
    /// A class smaller than the largest gets noisy copies until it holds
    /// `min(largest, factor x its own size)` samples. `1.0` (or less) turns balancing off.
    pub factor: f32,
    /// Standard deviation of the noise on 0..255 pixels; the paper's variance 5 is `sqrt(5)`.
    pub noise_std: f32,
}

impl Default for BalanceConfig {
    fn default() -> Self {
        BalanceConfig {
            factor: 2.0,
            noise_std: 5f32.sqrt(),
        }
    }
}

impl BalanceConfig {
    /// No balancing: the training split keeps only its originals (factor 1; the noise setting
    /// is kept at the default so an "off" configuration has one spelling in cache headers).
    pub fn off() -> Self {
        BalanceConfig {
            factor: 1.0,
            ..BalanceConfig::default()
        }
    }

    /// Whether any copies are added.
    pub fn is_on(&self) -> bool {
        self.factor > 1.0
    }
}

/// Which faces a run sees and how they are split and prepared: the settings `host prepare`
/// and `host train` share. A training run records them (flattened into
/// [`TrainConfig`](crate::train::TrainConfig), so a checkpoint names them as top-level keys)
/// and a prepared cache is only reused for the same selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSelection {
    /// Directory holding one sub-directory per dataset (`ckplus/`, `jaffe/`, `fer2013/`,
    /// `rafdb/`, or any name that [`detect_layout()`](super::detect_layout()) recognises).
    /// Default: `$VIGIL_DATA`, else `data`.
    pub data_root: PathBuf,
    /// Datasets, split separately and concatenated.
    pub datasets: Vec<DatasetKind>,
    /// Split protocol.
    pub protocol: SplitProtocol,
    /// Where prepared splits are cached (`host prepare --out`).
    pub cache_dir: PathBuf,
    /// Seed of every shuffle and of the balancing noise (and of a training run's
    /// initialisation, order and dropout).
    pub seed: u64,
    /// Crop / resize / enhancement, shared with the edge so both see the same pixels; the
    /// export writes it into the manifest. Records without it used the defaults.
    #[serde(default)]
    pub preprocessing: Preprocessing,
    /// Noise balancing of the training split ([`BalanceConfig::off`] for none).
    #[serde(default)]
    pub balance: BalanceConfig,
    /// A learned face enhancer (`host export --enhancer`: ONNX with its manifest beside it)
    /// run on every 48x48 crop before `preprocessing.enhancement`; `None` (and in older
    /// records): classical only.
    #[serde(default)]
    pub enhancer: Option<PathBuf>,
}

impl Default for DataSelection {
    fn default() -> Self {
        DataSelection {
            data_root: artifacts::data::default_dir(),
            datasets: vec![DatasetKind::CkPlus, DatasetKind::Jaffe, DatasetKind::Fer2013],
            protocol: SplitProtocol::Paper,
            cache_dir: PathBuf::from("prepared"),
            seed: 42,
            preprocessing: Preprocessing::default(),
            balance: BalanceConfig::default(),
            enhancer: None,
        }
    }
}

/// Every choice of the data pipeline, with defaults in one place.
#[derive(Debug, Clone, PartialEq)]
pub struct PrepareConfig {
    /// The faces, their split and their preparation.
    pub data: DataSelection,
    /// Explicit directories for some datasets, overriding the search under `data.data_root`.
    pub dataset_dirs: BTreeMap<DatasetKind, PathBuf>,
    /// What to do with CK+ contempt.
    pub contempt: ContemptPolicy,
    /// Fraction of each dataset held out for test under the paper protocol (4:1 -> 0.2).
    pub test_fraction: f32,
    /// Fraction of the training part held out for validation (0.1).
    pub val_fraction: f32,
    /// OpenCV Haar cascade for datasets that need face detection (JAFFE). `None`: the first
    /// of `models/haarcascade_frontalface_default.xml` (beside the workspace) and
    /// `<data_root>/haarcascades/haarcascade_frontalface_default.xml` that exists.
    pub cascade: Option<PathBuf>,
    /// Worker threads for decoding and preprocessing (0: all cores).
    pub threads: usize,
    /// Whether [`load_splits`](super::load_splits) lists the dataset directories to check
    /// that a cache was made from today's input files. `false` trusts complete cache files as
    /// they are (every other setting is still compared), so a run can train on a machine that
    /// has the prepared cache but not the datasets.
    pub verify_sources: bool,
}

impl Default for PrepareConfig {
    fn default() -> Self {
        PrepareConfig {
            data: DataSelection::default(),
            dataset_dirs: BTreeMap::new(),
            contempt: ContemptPolicy::Drop,
            test_fraction: 0.2,
            val_fraction: 0.1,
            cascade: None,
            threads: 0,
            verify_sources: true,
        }
    }
}

impl PrepareConfig {
    /// Checks the numeric settings.
    pub fn validate(&self) -> Result<(), DataError> {
        if self.data.datasets.is_empty() {
            return Err(DataError::Config("no datasets selected".into()));
        }
        if !(0.0..1.0).contains(&self.test_fraction) || !(0.0..1.0).contains(&self.val_fraction) {
            return Err(DataError::Config(format!(
                "test fraction {} and validation fraction {} must lie in 0..1",
                self.test_fraction, self.val_fraction
            )));
        }
        if !self.data.balance.factor.is_finite()
            || !self.data.balance.noise_std.is_finite()
            || self.data.balance.noise_std < 0.0
        {
            return Err(DataError::Config(format!(
                "invalid balance settings {:?}",
                self.data.balance
            )));
        }
        if self.data.preprocessing.size as usize != shared::INPUT_SIZE {
            return Err(DataError::Config(format!(
                "preprocessing size {} differs from the network input {}",
                self.data.preprocessing.size,
                shared::INPUT_SIZE
            )));
        }
        Ok(())
    }

    /// The directory of one dataset: the explicit override, else `<data_root>/<name>`, else
    /// the one sub-directory of `data_root` (or `data_root` itself) whose layout is detected
    /// as that dataset.
    pub fn dataset_dir(&self, kind: DatasetKind) -> Result<PathBuf, DataError> {
        if let Some(dir) = self.dataset_dirs.get(&kind) {
            return Ok(dir.clone());
        }
        let named = self.data.data_root.join(kind.name());
        if named.is_dir() {
            return Ok(named);
        }
        if detect_layout(&self.data.data_root).is_ok_and(|k| k == kind) {
            return Ok(self.data.data_root.clone());
        }
        let entries = std::fs::read_dir(&self.data.data_root).map_err(|e| DataError::io(&self.data.data_root, e))?;
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        dirs.into_iter()
            .find(|d| detect_layout(d).is_ok_and(|k| k == kind))
            .ok_or_else(|| DataError::DatasetNotFound {
                kind,
                root: self.data.data_root.clone(),
            })
    }
}
