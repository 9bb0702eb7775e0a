//! What a dataset reader finds: labelled entries and the inputs it skipped, plus the
//! directory helpers the readers share.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use shared::Emotion;
use shared::labels::ContemptPolicy;

use super::{DataError, DatasetKind, ckplus, fer2013, ferplus, jaffe, rafdb};

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
    /// Who is pictured (see [`Sample::subject`](super::Sample::subject)).
    pub subject: String,
    /// File name (see [`Sample::source`](super::Sample::source)).
    pub source: String,
    /// The dataset's own split, if it has one.
    pub official: Option<OfficialSplit>,
    /// Annotator votes per class (see [`Sample::votes`](super::Sample::votes)).
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

/// The class folders of a folder-per-class layout (shared by CK+ and FER2013) as
/// `(path, folder name)` pairs; files beside them are skipped, hidden entries ignored.
pub(crate) fn class_folders(dir: &Path, listing: &mut Listing) -> Result<Vec<(PathBuf, String)>, DataError> {
    let mut folders = Vec::new();
    for path in sorted_dir(dir)? {
        if is_hidden(&path) {
            continue;
        }
        if path.is_dir() {
            let name = file_name(&path);
            folders.push((path, name));
        } else {
            listing.skip(
                path.display().to_string(),
                SkipReason::Unreadable,
                "file outside a class folder",
            );
        }
    }
    Ok(folders)
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
