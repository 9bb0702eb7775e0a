//! The trainer's data pipeline: read the four datasets, find and crop faces, clean, split,
//! balance, and cache the result.
//!
//! Why a separate, cached stage: decoding ~33,000 images and running CLAHE on each takes far
//! longer than one training epoch's data loading, and the split must be identical between
//! training, evaluation and the report. So `prepare` runs once, writes one small binary file
//! per dataset + protocol + split (with its full configuration in the header, so a stale cache
//! is refused rather than silently reused), and [`load_splits`] reads them back.
//!
//! Stages, one module each:
//! * readers ([`ckplus`], [`jaffe`], [`fer2013`], [`rafdb`]) list files and labels; bad input
//!   is reported with its path and skipped, never a panic;
//! * [`detect_layout`] tells which dataset a directory holds;
//! * [`faces`] finds the face (Haar cascade for JAFFE, whole image for pre-cropped sets) and
//!   holds the enhancement seam;
//! * [`prepare`] decodes, crops to 48x48 grey with `shared::preprocess`, and drops images
//!   without a face and exact duplicates;
//! * `shared::tiff_palette` decodes the palette TIFFs among JAFFE's images, which `image` refuses;
//! * [`split`] makes the paper's random 4:1 split or a subject-independent one;
//! * [`balance`] adds Gaussian-noise copies of minority classes to the training split only;
//! * [`cache`] reads and writes the prepared files and the Markdown summary.

pub mod balance;
pub mod cache;
pub mod ckplus;
pub mod detect_layout;
pub mod faces;
pub mod fer2013;
pub mod ferplus;
pub mod jaffe;
pub mod prepare;
pub mod rafdb;
pub mod split;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use shared::Emotion;
use shared::labels::ContemptPolicy;
use shared::preprocess::Preprocessing;

pub use cache::{CACHE_FORMAT_VERSION, CACHE_MAGIC};
pub use detect_layout::detect_layout;
pub use faces::{ClassicalEnhancer, FaceEnhancer};
pub use prepare::{DatasetReport, PrepareReport, load_splits, load_splits_with, prepare, prepare_with};

/// The four datasets the paper trains and evaluates on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
pub enum DatasetKind {
    /// CK+ (the 48x48 "CK+48" cut), class folders.
    #[value(name = "ckplus")]
    CkPlus,
    /// JAFFE, 256x256 whole-head TIFFs, label in the file name.
    #[value(name = "jaffe")]
    Jaffe,
    /// FER2013, class folders of 48x48 JPEGs or the original `fer2013.csv`.
    #[value(name = "fer2013")]
    Fer2013,
    /// RAF-DB basic, aligned 100x100 colour images and a label list.
    #[value(name = "rafdb")]
    RafDb,
    /// FER+: FER2013's faces (lossless PNGs) with ten annotators' votes each.
    #[value(name = "ferplus")]
    FerPlus,
}

impl DatasetKind {
    /// All datasets.
    pub const ALL: [DatasetKind; 5] = [
        DatasetKind::CkPlus,
        DatasetKind::Jaffe,
        DatasetKind::Fer2013,
        DatasetKind::RafDb,
        DatasetKind::FerPlus,
    ];

    /// Stable machine name, used in file names and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            DatasetKind::CkPlus => "ckplus",
            DatasetKind::Jaffe => "jaffe",
            DatasetKind::Fer2013 => "fer2013",
            DatasetKind::RafDb => "rafdb",
            DatasetKind::FerPlus => "ferplus",
        }
    }

    /// Whether the images are already cropped to the face (so the whole image is the box).
    pub const fn pre_cropped(self) -> bool {
        !matches!(self, DatasetKind::Jaffe)
    }

    /// A fixed per-dataset constant mixed into the seed, so each dataset's shuffles are
    /// independent of which other datasets are prepared alongside it.
    pub(crate) const fn seed_salt(self) -> u64 {
        match self {
            DatasetKind::CkPlus => 0x9e37_79b9_7f4a_7c15,
            DatasetKind::Jaffe => 0x6a09_e667_f3bc_c909,
            DatasetKind::Fer2013 => 0xbb67_ae85_84ca_a73b,
            DatasetKind::RafDb => 0x3c6e_f372_fe94_f82b,
            DatasetKind::FerPlus => 0xa54f_f53a_5f1d_36f1,
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DatasetKind {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        let alias = match lower.as_str() {
            "ck+" | "ck" | "ck+48" => "ckplus",
            "fer" => "fer2013",
            "fer+" | "ferplus" => "ferplus",
            "raf-db" | "raf" => "rafdb",
            other => other,
        };
        DatasetKind::ALL.into_iter().find(|k| k.name() == alias).ok_or_else(|| {
            DataError::Config(format!(
                "unknown dataset {s:?} (expected ckplus, jaffe, fer2013, ferplus or rafdb)"
            ))
        })
    }
}

/// How a dataset is divided into train / validation / test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum)]
pub enum SplitProtocol {
    /// The paper's: random 4:1 train:test per dataset (stratified by class), then 10% of the
    /// training images for validation. Near-identical frames of one person can land on both
    /// sides, which inflates CK+ and JAFFE accuracy.
    #[default]
    #[value(name = "paper")]
    Paper,
    /// Subject-independent: CK+ grouped by subject, JAFFE by poser (validation grouped too);
    /// FER2013 and RAF-DB use their own official train / test splits.
    #[value(name = "subject")]
    Subject,
}

impl SplitProtocol {
    /// Stable machine name.
    pub const fn name(self) -> &'static str {
        match self {
            SplitProtocol::Paper => "paper",
            SplitProtocol::Subject => "subject",
        }
    }
}

impl fmt::Display for SplitProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SplitProtocol {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "paper" | "random" => Ok(SplitProtocol::Paper),
            "subject" | "subject-independent" => Ok(SplitProtocol::Subject),
            _ => Err(DataError::Config(format!(
                "unknown split protocol {s:?} (expected paper or subject)"
            ))),
        }
    }
}

/// The three parts of a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SplitName {
    /// Training images (and, after balancing, their noisy copies).
    Train,
    /// Validation images (for learning-rate decay and model selection).
    Val,
    /// Held-out test images.
    Test,
}

impl SplitName {
    /// All three, in file order.
    pub const ALL: [SplitName; 3] = [SplitName::Train, SplitName::Val, SplitName::Test];

    /// Stable machine name.
    pub const fn name(self) -> &'static str {
        match self {
            SplitName::Train => "train",
            SplitName::Val => "val",
            SplitName::Test => "test",
        }
    }
}

impl fmt::Display for SplitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One prepared image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// 48x48 preprocessed grey pixels, row-major.
    pub pixels: Vec<u8>,
    /// The paper's class.
    pub label: Emotion,
    /// Which dataset it came from.
    pub dataset: DatasetKind,
    /// Who is pictured: CK+ `S010`, JAFFE poser `KA`; the file name where the dataset has no
    /// subject ids (FER2013, RAF-DB).
    pub subject: String,
    /// The source file name (or `fer2013.csv#row<N>`); a noisy copy keeps its original's.
    pub source: String,
    /// True for a Gaussian-noise copy made by balancing.
    pub augmented: bool,
    /// Annotator votes per class, in [`Emotion::ALL`] order, where the dataset has them
    /// (FER+): the trainer's soft targets under `LabelMode::Probability`.
    pub votes: Option<[u8; shared::NUM_CLASSES]>,
}

/// Train / validation / test samples.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Splits {
    /// Training samples (balanced: may contain augmented copies).
    pub train: Vec<Sample>,
    /// Validation samples (never augmented).
    pub val: Vec<Sample>,
    /// Test samples (never augmented).
    pub test: Vec<Sample>,
}

impl Splits {
    /// The samples of one part.
    pub fn part(&self, name: SplitName) -> &[Sample] {
        match name {
            SplitName::Train => &self.train,
            SplitName::Val => &self.val,
            SplitName::Test => &self.test,
        }
    }

    /// Mutable access to one part.
    pub fn part_mut(&mut self, name: SplitName) -> &mut Vec<Sample> {
        match name {
            SplitName::Train => &mut self.train,
            SplitName::Val => &mut self.val,
            SplitName::Test => &mut self.test,
        }
    }

    /// Appends another dataset's splits (several datasets are split separately, then joined).
    pub fn extend(&mut self, other: Splits) {
        self.train.extend(other.train);
        self.val.extend(other.val);
        self.test.extend(other.test);
    }

    /// Counts per class: `[split][class index]`.
    pub fn class_counts(&self) -> [[usize; shared::NUM_CLASSES]; 3] {
        let mut counts = [[0; shared::NUM_CLASSES]; 3];
        for (i, name) in SplitName::ALL.into_iter().enumerate() {
            for s in self.part(name) {
                counts[i][s.label.index()] += 1;
            }
        }
        counts
    }
}

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

/// Every choice of the data pipeline, with defaults in one place.
#[derive(Debug, Clone, PartialEq)]
pub struct PrepareConfig {
    /// Directory holding one sub-directory per dataset (`ckplus/`, `jaffe/`, `fer2013/`,
    /// `rafdb/`, or any name that [`detect_layout`] recognises). Default: `$VIGIL_DATA`, else
    /// `data`.
    pub data_root: PathBuf,
    /// Explicit directories for some datasets, overriding the search under `data_root`.
    pub dataset_dirs: BTreeMap<DatasetKind, PathBuf>,
    /// Datasets to prepare; their splits are made separately and concatenated.
    pub datasets: Vec<DatasetKind>,
    /// Split protocol.
    pub protocol: SplitProtocol,
    /// Seed of every shuffle and of the balancing noise.
    pub seed: u64,
    /// Crop / resize / enhancement, shared with the edge so both see the same pixels.
    pub preprocessing: Preprocessing,
    /// Noise balancing of the training split.
    pub balance: BalanceConfig,
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
    /// Where the prepared files and summaries go.
    pub cache_dir: PathBuf,
    /// Worker threads for decoding and preprocessing (0: all cores).
    pub threads: usize,
    /// Whether [`load_splits`] lists the dataset directories to check that a cache was made
    /// from today's input files. `false` trusts complete cache files as they are (every other
    /// setting is still compared), so a run can train on a machine that has the prepared
    /// cache but not the datasets.
    pub verify_sources: bool,
}

impl Default for PrepareConfig {
    fn default() -> Self {
        PrepareConfig {
            data_root: artifacts::data::default_dir(),
            dataset_dirs: BTreeMap::new(),
            datasets: vec![DatasetKind::CkPlus, DatasetKind::Jaffe, DatasetKind::Fer2013],
            protocol: SplitProtocol::Paper,
            seed: 42,
            preprocessing: Preprocessing::default(),
            balance: BalanceConfig::default(),
            contempt: ContemptPolicy::Drop,
            test_fraction: 0.2,
            val_fraction: 0.1,
            cascade: None,
            cache_dir: PathBuf::from("prepared"),
            threads: 0,
            verify_sources: true,
        }
    }
}

impl PrepareConfig {
    /// Checks the numeric settings.
    pub fn validate(&self) -> Result<(), DataError> {
        if self.datasets.is_empty() {
            return Err(DataError::Config("no datasets selected".into()));
        }
        if !(0.0..1.0).contains(&self.test_fraction) || !(0.0..1.0).contains(&self.val_fraction) {
            return Err(DataError::Config(format!(
                "test fraction {} and validation fraction {} must lie in 0..1",
                self.test_fraction, self.val_fraction
            )));
        }
        if !self.balance.factor.is_finite() || !self.balance.noise_std.is_finite() || self.balance.noise_std < 0.0 {
            return Err(DataError::Config(format!(
                "invalid balance settings {:?}",
                self.balance
            )));
        }
        if self.preprocessing.size as usize != shared::INPUT_SIZE {
            return Err(DataError::Config(format!(
                "preprocessing size {} differs from the network input {}",
                self.preprocessing.size,
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
        let named = self.data_root.join(kind.name());
        if named.is_dir() {
            return Ok(named);
        }
        if detect_layout(&self.data_root).is_ok_and(|k| k == kind) {
            return Ok(self.data_root.clone());
        }
        let entries = std::fs::read_dir(&self.data_root).map_err(|e| DataError::io(&self.data_root, e))?;
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
                root: self.data_root.clone(),
            })
    }
}

/// Errors of the data pipeline. Bad individual images are not errors: they are skipped and
/// counted (see [`SkipReason`]); these are the problems that stop preparation.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No directory for the dataset was found.
    #[error("no {kind} dataset under {root} (expected {root}/{kind}/ or a directory in a recognised layout)")]
    DatasetNotFound {
        /// The dataset looked for.
        kind: DatasetKind,
        /// Where it was looked for.
        root: PathBuf,
    },
    /// A directory whose layout matches no known dataset.
    #[error("{path}: {why}")]
    UnknownLayout {
        /// The directory.
        path: PathBuf,
        /// What was looked for.
        why: String,
    },
    /// A dataset (or an official split of it) with no usable image.
    #[error("{path}: no usable {kind} images ({detail})")]
    Empty {
        /// The dataset.
        kind: DatasetKind,
        /// Its directory.
        path: PathBuf,
        /// What was found instead.
        detail: String,
    },
    /// A cache file that is not one, or is damaged.
    #[error("{path}: not a readable vigil cache: {why}")]
    CacheCorrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A cache written by another format version or with another configuration.
    #[error(
        "{path}: cache {what}; run `host prepare` with the wanted options to rebuild it, or use another cache directory (`host prepare --out`, `host train --cache`)"
    )]
    CacheMismatch {
        /// The file.
        path: PathBuf,
        /// Which setting differs, with both values.
        what: String,
    },
    /// The face detector could not be loaded.
    #[error("face detector: {0}")]
    Detector(String),
    /// An invalid setting.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl DataError {
    /// An I/O error at `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Why an input image was left out. Every skip is logged with its path and counted in the
/// report's summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SkipReason {
    /// The file could not be read or decoded (corrupt, truncated, unsupported).
    Unreadable,
    /// A label no mapping knows (folder name, file-name code, CSV or list value).
    UnknownLabel,
    /// A label deliberately dropped (CK+ contempt under `ContemptPolicy::Drop`; a FER+ face
    /// whose most votes are contempt, unknown or not-a-face, or tied).
    DroppedLabel,
    /// A file name that does not follow the dataset's pattern (no subject / label in it).
    BadName,
    /// A FER2013 CSV row without exactly 48x48 pixels, or another malformed row.
    WrongSize,
    /// A label-list entry whose image file is missing.
    MissingFile,
    /// An official split this project keeps out on purpose (FER2013 PrivateTest).
    HeldOut,
    /// A class folder with no images in it.
    EmptyFolder,
    /// The face detector found no face.
    NoFace,
    /// Same pixels after preprocessing as an earlier image of the dataset.
    Duplicate,
}

impl SkipReason {
    /// Short description for the summary.
    pub const fn describe(self) -> &'static str {
        match self {
            SkipReason::Unreadable => "unreadable or corrupt image",
            SkipReason::UnknownLabel => "unknown label",
            SkipReason::DroppedLabel => "label dropped by policy (CK+ contempt; FER+ without a majority emotion)",
            SkipReason::BadName => "file name without subject/label",
            SkipReason::WrongSize => "malformed CSV row (pixel count)",
            SkipReason::MissingFile => "listed file missing",
            SkipReason::HeldOut => "held-out official split (PrivateTest)",
            SkipReason::EmptyFolder => "empty class folder",
            SkipReason::NoFace => "no face found",
            SkipReason::Duplicate => "exact duplicate after preprocessing",
        }
    }

    /// True for defects of the input (as opposed to deliberate cleaning or policy).
    pub const fn is_bad_input(self) -> bool {
        matches!(
            self,
            SkipReason::Unreadable
                | SkipReason::UnknownLabel
                | SkipReason::BadName
                | SkipReason::WrongSize
                | SkipReason::MissingFile
                | SkipReason::EmptyFolder
        )
    }
}

/// One skipped input, with where it is and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// File (or `file#row`) that was skipped.
    pub path: String,
    /// Category.
    pub reason: SkipReason,
    /// Details (decoder message, offending value).
    pub detail: String,
}

/// Official split a dataset assigns to an image, where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OfficialSplit {
    /// FER2013 Training, RAF-DB train.
    Train,
    /// FER2013 PublicTest (the `val/` folder), RAF-DB test.
    Test,
}

/// Where an entry's pixels come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// An image file to decode.
    File(PathBuf),
    /// Pixels already in memory (a FER2013 CSV row), `width x height` grey.
    Pixels {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Row-major grey pixels.
        pixels: Vec<u8>,
    },
}

/// One labelled image found by a reader, not yet decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Where the pixels are.
    pub origin: Origin,
    /// Path (or `file#row`) for reports.
    pub display: String,
    /// The paper's class.
    pub label: Emotion,
    /// Who is pictured (see [`Sample::subject`]).
    pub subject: String,
    /// File name (see [`Sample::source`]).
    pub source: String,
    /// The dataset's own split, if it has one.
    pub official: Option<OfficialSplit>,
    /// Annotator votes per class (see [`Sample::votes`]).
    pub votes: Option<[u8; shared::NUM_CLASSES]>,
}

/// What a reader found: the usable entries and what it skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Labelled images, sorted by `display` for determinism.
    pub entries: Vec<Entry>,
    /// Inputs left out, with reasons.
    pub skipped: Vec<Skipped>,
}

#[cfg(test)]
impl Listing {
    /// (source, label, official split) of each entry: what the readers' tests compare.
    pub(crate) fn summary(&self) -> Vec<(&str, Emotion, Option<OfficialSplit>)> {
        self.entries
            .iter()
            .map(|e| (e.source.as_str(), e.label, e.official))
            .collect()
    }
}

impl Listing {
    /// Records and logs a skipped input.
    pub fn skip(&mut self, path: impl Into<String>, reason: SkipReason, detail: impl Into<String>) {
        let skipped = Skipped {
            path: path.into(),
            reason,
            detail: detail.into(),
        };
        if reason.is_bad_input() {
            tracing::warn!(path = %skipped.path, "skipped: {}: {}", reason.describe(), skipped.detail);
        } else {
            tracing::debug!(path = %skipped.path, "skipped: {}: {}", reason.describe(), skipped.detail);
        }
        self.skipped.push(skipped);
    }

    /// Sorts entries by path so every later shuffle starts from the same order.
    pub fn sort(&mut self) {
        self.entries.sort_by(|a, b| a.display.cmp(&b.display));
    }

    /// Number of entries per class.
    pub fn class_counts(&self) -> [usize; shared::NUM_CLASSES] {
        let mut counts = [0; shared::NUM_CLASSES];
        for e in &self.entries {
            counts[e.label.index()] += 1;
        }
        counts
    }
}

/// Lists a dataset directory with the reader for `kind`.
pub fn read_dataset(kind: DatasetKind, dir: &Path, contempt: ContemptPolicy) -> Result<Listing, DataError> {
    let mut listing = match kind {
        DatasetKind::CkPlus => ckplus::read(dir, contempt)?,
        DatasetKind::Jaffe => jaffe::read(dir)?,
        DatasetKind::Fer2013 => fer2013::read(dir)?,
        DatasetKind::RafDb => rafdb::read(dir)?,
        DatasetKind::FerPlus => ferplus::read(dir)?,
    };
    listing.sort();
    if listing.entries.is_empty() {
        return Err(DataError::Empty {
            kind,
            path: dir.to_path_buf(),
            detail: format!("{} inputs skipped", listing.skipped.len()),
        });
    }
    Ok(listing)
}

pub(crate) use artifacts::image::is_image_file;

/// True for names to ignore silently (hidden files such as `.DS_Store`).
pub(crate) fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// The sorted entries of a directory.
pub(crate) fn sorted_dir(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut paths = Vec::new();
    for entry in entries {
        paths.push(entry.map_err(|e| DataError::io(dir, e))?.path());
    }
    paths.sort();
    Ok(paths)
}

/// The file name of a path as a string (lossy).
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Reads the images of one class folder (shared by CK+ and FER2013's folder layout): image
/// files become `(path, file name)` pairs, other files and an empty folder are skipped.
pub(crate) fn class_folder_files(dir: &Path, listing: &mut Listing) -> Result<Vec<(PathBuf, String)>, DataError> {
    let mut files = Vec::new();
    for path in sorted_dir(dir)? {
        if is_hidden(&path) || path.is_dir() {
            continue;
        }
        if is_image_file(&path) {
            let name = file_name(&path);
            files.push((path, name));
        } else {
            listing.skip(
                path.display().to_string(),
                SkipReason::Unreadable,
                "not an image file (extension)",
            );
        }
    }
    if files.is_empty() {
        listing.skip(
            dir.display().to_string(),
            SkipReason::EmptyFolder,
            "class folder holds no images",
        );
    }
    Ok(files)
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Small image files for the readers' tests.
    use std::path::Path;

    /// Writes a `w x h` grey PNG with a gradient (so distinct files differ by `seed`).
    pub fn write_png(path: &Path, w: u32, h: u32, seed: u8) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let img = image::GrayImage::from_fn(w, h, |x, y| image::Luma([(x * 3 + y * 5) as u8 ^ seed]));
        img.save(path).unwrap();
    }

    /// Writes a PNG and cuts it to half its length: a truncated, undecodable file.
    pub fn write_truncated_png(path: &Path) {
        write_png(path, 48, 48, 1);
        let bytes = std::fs::read(path).unwrap();
        std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in DatasetKind::ALL {
            assert_eq!(k.name().parse::<DatasetKind>().unwrap(), k);
        }
        assert_eq!("CK+".parse::<DatasetKind>().unwrap(), DatasetKind::CkPlus);
        assert!("mnist".parse::<DatasetKind>().is_err());
        assert_eq!("subject".parse::<SplitProtocol>().unwrap(), SplitProtocol::Subject);
        assert_eq!(SplitProtocol::Paper.name(), "paper");
        assert!("kfold".parse::<SplitProtocol>().is_err());
    }

    #[test]
    fn config_validation_rejects_nonsense() {
        assert!(PrepareConfig::default().validate().is_ok());
        let bad = PrepareConfig {
            test_fraction: 1.5,
            ..PrepareConfig::default()
        };
        assert!(matches!(bad.validate(), Err(DataError::Config(_))));
        let none = PrepareConfig {
            datasets: vec![],
            ..PrepareConfig::default()
        };
        assert!(none.validate().is_err());
        let balance = PrepareConfig {
            balance: BalanceConfig {
                factor: f32::NAN,
                noise_std: 1.0,
            },
            ..PrepareConfig::default()
        };
        assert!(balance.validate().is_err());
    }

    #[test]
    fn dataset_dir_prefers_override_then_name_then_detection() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        test_util::write_png(&root.join("CK+48/anger/S005_001_00000011.png"), 48, 48, 0);
        let config = PrepareConfig {
            data_root: root.to_path_buf(),
            ..PrepareConfig::default()
        };
        assert_eq!(config.dataset_dir(DatasetKind::CkPlus).unwrap(), root.join("CK+48"));
        assert!(matches!(
            config.dataset_dir(DatasetKind::Jaffe),
            Err(DataError::DatasetNotFound { .. })
        ));
        std::fs::create_dir(root.join("ckplus")).unwrap();
        assert_eq!(config.dataset_dir(DatasetKind::CkPlus).unwrap(), root.join("ckplus"));
        let mut explicit = config.clone();
        explicit
            .dataset_dirs
            .insert(DatasetKind::CkPlus, root.join("elsewhere"));
        assert_eq!(
            explicit.dataset_dir(DatasetKind::CkPlus).unwrap(),
            root.join("elsewhere")
        );
    }
}
