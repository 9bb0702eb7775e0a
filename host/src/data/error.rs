//! Why the data pipeline stopped; every variant names the file or setting.

use std::path::{Path, PathBuf};

use super::DatasetKind;

/// Errors of the data pipeline. Bad individual images are not errors: they are skipped and
/// counted (see [`SkipReason`](super::SkipReason)); these are the problems that stop preparation.
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
    /// A dataset or split protocol name that is not known.
    #[error("invalid configuration: {0}")]
    UnknownName(#[from] shared::dataset::UnknownName),
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
