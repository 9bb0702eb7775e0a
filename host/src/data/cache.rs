//! The prepared-data cache: one file per dataset + protocol + split, and a Markdown summary
//! beside them.
//!
//! File layout (`<dataset>-<protocol>-<split>.vds`):
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `VIGILDS\n` |
//! | 4 | format version, little-endian u32 |
//! | 4 | header length, little-endian u32 |
//! | n | [`CacheHeader`], postcard: every setting that changes the pixels or the split |
//! | rest - 32 | the samples, postcard `Vec<Sample>` (48x48 bytes plus label, names, flag) |
//! | 32 | SHA-256 of everything before it |
//!
//! A file of another format version, or whose header differs from the configuration asked for
//! (preprocessing and the version of its code, enhancer, detector, seed, balance, contempt
//! policy, fractions, or the input files' contents), is refused with an error naming the difference: silently training
//! on pixels prepared another way would make results unreproducible.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::labels::ContemptPolicy;
use shared::preprocess::Preprocessing;

use super::{BalanceConfig, DataError, DatasetKind, Sample, SplitName, SplitProtocol};

/// First bytes of every cache file.
pub const CACHE_MAGIC: [u8; 8] = *b"VIGILDS\n";
/// Version of the layout above; bump it whenever the layout or the header changes.
pub const CACHE_FORMAT_VERSION: u32 = 3;
/// File extension of cache files.
pub const CACHE_EXTENSION: &str = "vds";

/// Everything a cache file's samples depend on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheHeader {
    /// Dataset.
    pub dataset: DatasetKind,
    /// Split protocol.
    pub protocol: SplitProtocol,
    /// Which part this file holds.
    pub split: SplitName,
    /// Seed of the shuffles and noise.
    pub seed: u64,
    /// Shared preprocessing (crop margin, size, enhancement, normalisation).
    pub preprocessing: Preprocessing,
    /// [`shared::preprocess::PREPROCESS_VERSION`] of the code that made the pixels.
    pub preprocess_version: u32,
    /// [`super::FaceEnhancer::id`].
    pub enhancer: String,
    /// [`super::faces::FaceFinder::id`].
    pub face_finder: String,
    /// Balancing settings.
    pub balance: BalanceConfig,
    /// CK+ contempt policy.
    pub contempt: ContemptPolicy,
    /// Test share.
    pub test_fraction: f32,
    /// Validation share.
    pub val_fraction: f32,
    /// SHA-256 (hex) over the listed input files (path, content, label, official split).
    pub source_digest: String,
    /// Number of samples in the file.
    pub count: u64,
}

impl CacheHeader {
    /// The first setting in which `self` (found) differs from `wanted`, described.
    pub fn difference(&self, wanted: &CacheHeader) -> Option<String> {
        macro_rules! check {
            ($($field:ident),*) => {$(
                if self.$field != wanted.$field {
                    return Some(format!(
                        "was written with {} = {:?}, but {:?} is wanted",
                        stringify!($field), self.$field, wanted.$field
                    ));
                }
            )*};
        }
        check!(
            dataset,
            protocol,
            split,
            seed,
            preprocessing,
            preprocess_version,
            enhancer,
            face_finder,
            balance,
            contempt,
            test_fraction,
            val_fraction
        );
        if self.source_digest != wanted.source_digest {
            return Some(
                "was prepared from different input files (the dataset directory changed), or by a \
                 vigil that fingerprinted them differently"
                    .into(),
            );
        }
        None
    }
}

/// The cache file of one dataset, protocol and split.
pub fn cache_path(dir: &Path, dataset: DatasetKind, protocol: SplitProtocol, split: SplitName) -> PathBuf {
    dir.join(format!("{dataset}-{protocol}-{split}.{CACHE_EXTENSION}"))
}

/// The Markdown summary of one dataset and protocol.
pub fn summary_path(dir: &Path, dataset: DatasetKind, protocol: SplitProtocol) -> PathBuf {
    dir.join(format!("{dataset}-{protocol}.md"))
}

/// Writes samples with their header (atomically: a temporary file renamed into place).
pub fn write(path: &Path, header: &CacheHeader, samples: &[Sample]) -> Result<(), DataError> {
    let corrupt = |why: String| DataError::CacheCorrupt {
        path: path.to_path_buf(),
        why,
    };
    let head = postcard::to_stdvec(header).map_err(|e| corrupt(format!("encoding header: {e}")))?;
    let body = postcard::to_stdvec(samples).map_err(|e| corrupt(format!("encoding samples: {e}")))?;
    let mut bytes = Vec::with_capacity(16 + head.len() + body.len() + 32);
    bytes.extend_from_slice(&CACHE_MAGIC);
    bytes.extend_from_slice(&CACHE_FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(head.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&head);
    bytes.extend_from_slice(&body);
    let digest = Sha256::digest(&bytes);
    bytes.extend_from_slice(&digest);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    }
    artifacts::files::write_atomically(path, &bytes).map_err(|e| DataError::io(path, e))
}

/// Reads a cache file's header and samples, checking magic, version and checksum.
pub fn read_any(path: &Path) -> Result<(CacheHeader, Vec<Sample>), DataError> {
    let corrupt = |why: String| DataError::CacheCorrupt {
        path: path.to_path_buf(),
        why,
    };
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if bytes.len() < 16 + 32 || bytes[..8] != CACHE_MAGIC {
        return Err(corrupt("missing magic bytes".into()));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != CACHE_FORMAT_VERSION {
        return Err(DataError::CacheMismatch {
            path: path.to_path_buf(),
            what: format!("has format version {version}, this build reads version {CACHE_FORMAT_VERSION}"),
        });
    }
    let (content, digest) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(content).as_slice() != digest {
        return Err(corrupt("checksum mismatch (truncated or damaged file)".into()));
    }
    let head_len = u32::from_le_bytes(content[12..16].try_into().expect("4 bytes")) as usize;
    let head = content
        .get(16..16 + head_len)
        .ok_or_else(|| corrupt("header length past the end".into()))?;
    let header: CacheHeader = postcard::from_bytes(head).map_err(|e| corrupt(format!("header: {e}")))?;
    let samples: Vec<Sample> =
        postcard::from_bytes(&content[16 + head_len..]).map_err(|e| corrupt(format!("samples: {e}")))?;
    if samples.len() as u64 != header.count {
        return Err(corrupt(format!(
            "header says {} samples, file holds {}",
            header.count,
            samples.len()
        )));
    }
    if let Some(bad) = samples
        .iter()
        .find(|s| s.pixels.len() != shared::INPUT_PIXELS || s.dataset != header.dataset)
    {
        return Err(corrupt(format!(
            "sample {} is not a {}x{} {} face",
            bad.source,
            shared::INPUT_SIZE,
            shared::INPUT_SIZE,
            header.dataset
        )));
    }
    Ok((header, samples))
}

/// Reads a cache file, refusing it unless its header matches `wanted` (the count aside).
pub fn read(path: &Path, wanted: &CacheHeader) -> Result<Vec<Sample>, DataError> {
    let (header, samples) = read_any(path)?;
    if let Some(what) = header.difference(wanted) {
        return Err(DataError::CacheMismatch {
            path: path.to_path_buf(),
            what,
        });
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::Emotion;
    use shared::preprocess::Enhancement;

    fn header(count: u64) -> CacheHeader {
        CacheHeader {
            dataset: DatasetKind::Jaffe,
            protocol: SplitProtocol::Subject,
            split: SplitName::Val,
            seed: 42,
            preprocessing: Preprocessing::default(),
            preprocess_version: 1,
            enhancer: "clahe".into(),
            face_finder: "haar:abc".into(),
            balance: BalanceConfig::default(),
            contempt: ContemptPolicy::Drop,
            test_fraction: 0.2,
            val_fraction: 0.1,
            source_digest: "d1".into(),
            count,
        }
    }

    fn samples() -> Vec<Sample> {
        (0..3)
            .map(|i| Sample {
                pixels: vec![i as u8; 48 * 48],
                label: Emotion::ALL[i],
                dataset: DatasetKind::Jaffe,
                subject: "KA".into(),
                source: format!("KA.AN{i}.1.tiff"),
                augmented: i == 2,
                votes: (i == 1).then_some([1, 2, 3, 4, 0, 0, 0]),
            })
            .collect()
    }

    #[test]
    fn round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let path = cache_path(tmp.path(), DatasetKind::Jaffe, SplitProtocol::Subject, SplitName::Val);
        assert!(path.ends_with("jaffe-subject-val.vds"));
        write(&path, &header(3), &samples()).unwrap();
        assert_eq!(read(&path, &header(3)).unwrap(), samples());
        // Compact: little more than the raw pixels.
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size < 3 * 48 * 48 + 400, "{size} bytes");
    }

    #[test]
    fn another_configuration_is_refused_with_the_difference() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("c.vds");
        write(&path, &header(3), &samples()).unwrap();
        let mut wanted = header(3);
        wanted.preprocessing.enhancement = Enhancement::None;
        let err = read(&path, &wanted).unwrap_err();
        assert!(matches!(err, DataError::CacheMismatch { .. }));
        assert!(err.to_string().contains("preprocessing"), "{err}");
        let mut wanted = header(3);
        wanted.seed = 7;
        assert!(read(&path, &wanted).unwrap_err().to_string().contains("seed"));
        let mut wanted = header(3);
        wanted.source_digest = "d2".into();
        assert!(read(&path, &wanted).unwrap_err().to_string().contains("input files"));
        // Pixels made by older preprocessing code are not mixed with the new.
        let mut wanted = header(3);
        wanted.preprocess_version = 2;
        assert!(
            read(&path, &wanted)
                .unwrap_err()
                .to_string()
                .contains("preprocess_version")
        );
    }

    #[test]
    fn other_versions_and_damage_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("c.vds");
        write(&path, &header(3), &samples()).unwrap();
        let good = std::fs::read(&path).unwrap();

        let mut old = good.clone();
        old[8..12].copy_from_slice(&0u32.to_le_bytes());
        std::fs::write(&path, &old).unwrap();
        let err = read(&path, &header(3)).unwrap_err();
        assert!(
            matches!(err, DataError::CacheMismatch { .. }) && err.to_string().contains("format version 0"),
            "{err}"
        );

        std::fs::write(&path, &good[..good.len() - 100]).unwrap();
        assert!(matches!(read(&path, &header(3)), Err(DataError::CacheCorrupt { .. })));

        let mut flipped = good.clone();
        flipped[200] ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        assert!(matches!(read(&path, &header(3)), Err(DataError::CacheCorrupt { .. })));

        std::fs::write(&path, b"not a cache at all, just some text that is long enough").unwrap();
        assert!(matches!(read(&path, &header(3)), Err(DataError::CacheCorrupt { .. })));
    }
}
