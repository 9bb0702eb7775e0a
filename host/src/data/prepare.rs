//! Preparation of one or more datasets: list, decode, find the face, crop to 48x48 grey with
//! the shared preprocessing, clean (no face, exact duplicates), split, balance the training
//! part, write the cache and a Markdown summary; and [`load_splits`], which reads the cache
//! back (preparing first when it is missing).
//!
//! Decoding and preprocessing run on worker threads; results are collected in listing order,
//! so the output does not depend on the thread count.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use shared::{Emotion, GrayImage, NUM_CLASSES};

use super::balance::balance;
use super::cache::{self, CacheHeader};
use super::faces::{self, FaceEnhancer, FaceFinder};
use super::split::{Candidate, Fractions, split};
use super::{
    DataError, DatasetKind, Entry, Listing, Origin, PrepareConfig, Sample, SkipReason, Skipped, SplitName, Splits,
    kinds::seed_salt, read_dataset,
};

/// What preparing one dataset did.
#[derive(Debug, Clone)]
pub struct DatasetReport {
    /// Dataset.
    pub kind: DatasetKind,
    /// Its directory.
    pub dir: PathBuf,
    /// Labelled images the reader found, per class (before decoding and cleaning).
    pub listed: [usize; NUM_CLASSES],
    /// For datasets with an official split (FER2013, RAF-DB): the listed images per class in
    /// its train and test parts.
    pub listed_official: Option<[[usize; NUM_CLASSES]; 2]>,
    /// Inputs left out, with reasons (reader, decoder, detector, duplicates).
    pub skipped: Vec<Skipped>,
    /// Original (non-augmented) samples per split and class.
    pub originals: [[usize; NUM_CLASSES]; 3],
    /// Noisy copies added to the training split, per class.
    pub augmented: [usize; NUM_CLASSES],
    /// The cache files written.
    pub cache_files: Vec<PathBuf>,
    /// The Markdown summary written beside them.
    pub summary_file: PathBuf,
    /// Wall time of this dataset's preparation.
    pub elapsed: Duration,
}

impl DatasetReport {
    /// Skips per reason, in reason order.
    pub fn skip_counts(&self) -> Vec<(SkipReason, usize)> {
        let mut counts: std::collections::BTreeMap<SkipReason, usize> = Default::default();
        for s in &self.skipped {
            *counts.entry(s.reason).or_default() += 1;
        }
        counts.into_iter().collect()
    }
}

/// What [`prepare`] did, and the splits it made (all datasets concatenated).
#[derive(Debug, Clone)]
pub struct PrepareReport {
    /// One report per dataset, in the configured order.
    pub datasets: Vec<DatasetReport>,
    /// The prepared splits.
    pub splits: Splits,
}

/// Prepares every configured dataset with the enhancer `config` names ([`faces::enhancer_for`]:
/// the learned one, then `config.preprocessing.enhancement`; or the latter alone),
/// overwriting its cache files.
pub fn prepare(config: &PrepareConfig) -> Result<PrepareReport, DataError> {
    prepare_with(config, faces::enhancer_for(config)?.as_ref())
}

/// [`prepare`] with another enhancer (the seam for a learned, FFA-Net-style one).
pub fn prepare_with(config: &PrepareConfig, enhancer: &dyn FaceEnhancer) -> Result<PrepareReport, DataError> {
    config.validate()?;
    let mut report = PrepareReport {
        datasets: Vec::new(),
        splits: Splits::default(),
    };
    for &kind in &config.data.datasets {
        let (dataset, splits) = prepare_dataset(kind, config, enhancer)?;
        report.datasets.push(dataset);
        report.splits.extend(splits);
    }
    Ok(report)
}

/// Loads splits for the configured datasets from the cache, preparing (and caching) a dataset
/// first if any of its files is missing. A cache written by another format version or with
/// other settings is refused with [`DataError::CacheMismatch`].
pub fn load_splits(config: &PrepareConfig) -> Result<Splits, DataError> {
    load_splits_with(config, faces::enhancer_for(config)?.as_ref())
}

/// [`load_splits`] for caches made with another enhancer (see [`prepare_with`]).
pub fn load_splits_with(config: &PrepareConfig, enhancer: &dyn FaceEnhancer) -> Result<Splits, DataError> {
    config.validate()?;
    let mut splits = Splits::default();
    for &kind in &config.data.datasets {
        let paths: Vec<PathBuf> = SplitName::ALL
            .iter()
            .map(|&s| cache::cache_path(&config.data.cache_dir, kind, config.data.protocol, s))
            .collect();
        if !config.verify_sources && paths.iter().all(|p| p.is_file()) {
            let finder_id = faces::finder_id(kind, config)?;
            for (&name, path) in SplitName::ALL.iter().zip(&paths) {
                let mut wanted = header(kind, name, config, enhancer, &finder_id, "", 0);
                let (found, samples) = cache::read_any(path)?;
                wanted.source_digest = found.source_digest.clone();
                if let Some(what) = found.difference(&wanted) {
                    return Err(DataError::CacheMismatch {
                        path: path.clone(),
                        what,
                    });
                }
                *splits.part_mut(name) = std::mem::take(splits.part_mut(name))
                    .into_iter()
                    .chain(samples)
                    .collect();
            }
            tracing::info!(dataset = %kind, "loaded prepared splits from {} without checking the source files", config.data.cache_dir.display());
            continue;
        }
        let dir = config.dataset_dir(kind)?;
        let listing = read_dataset(kind, &dir, config.contempt)?;
        let finder_id = faces::finder_id(kind, config)?;
        let digest = source_digest(&dir, &listing);
        if paths.iter().all(|p| p.is_file()) {
            let mut loaded = Splits::default();
            for (&name, path) in SplitName::ALL.iter().zip(&paths) {
                let wanted = header(kind, name, config, enhancer, &finder_id, &digest, 0);
                *loaded.part_mut(name) = cache::read(path, &wanted)?;
            }
            tracing::info!(dataset = %kind, protocol = %config.data.protocol, "loaded prepared splits from {}", config.data.cache_dir.display());
            splits.extend(loaded);
        } else {
            tracing::info!(dataset = %kind, "no prepared cache in {}: preparing", config.data.cache_dir.display());
            let (_, prepared) = prepare_dataset(kind, config, enhancer)?;
            splits.extend(prepared);
        }
    }
    Ok(splits)
}

fn header(
    kind: DatasetKind,
    split: SplitName,
    config: &PrepareConfig,
    enhancer: &dyn FaceEnhancer,
    finder_id: &str,
    digest: &str,
    count: u64,
) -> CacheHeader {
    CacheHeader {
        dataset: kind,
        protocol: config.data.protocol,
        split,
        seed: config.data.seed,
        preprocessing: config.data.preprocessing,
        preprocess_version: shared::preprocess::PREPROCESS_VERSION,
        enhancer: enhancer.id(),
        face_finder: finder_id.into(),
        balance: config.data.balance,
        contempt: config.contempt,
        test_fraction: config.test_fraction,
        val_fraction: config.val_fraction,
        source_digest: digest.into(),
        count,
    }
}

/// SHA-256 over what the reader listed: relative path, content, label, official split and
/// annotator votes (FER+'s soft targets, read from its `label.csv`) of each entry (pixels for
/// CSV rows). No decoding, so it costs a read of the files (about a second for FER+), and it
/// changes when any byte of any input does. Entries without votes hash as they always did,
/// so only caches of voted datasets change with the votes.
pub fn source_digest(dir: &Path, listing: &Listing) -> String {
    let mut hasher = Sha256::new();
    for e in &listing.entries {
        match &e.origin {
            Origin::File(path) => {
                let relative = path.strip_prefix(dir).unwrap_or(path);
                hasher.update(relative.to_string_lossy().as_bytes());
                hasher.update([0]);
                match std::fs::read(path) {
                    Ok(bytes) => {
                        hasher.update((bytes.len() as u64).to_le_bytes());
                        hasher.update(&bytes);
                    }
                    // Unreadable now: preparing will report it; the digest only must differ.
                    Err(_) => hasher.update(u64::MAX.to_le_bytes()),
                }
            }
            Origin::Pixels { pixels, .. } => {
                hasher.update(e.source.as_bytes());
                hasher.update(pixels);
            }
        }
        hasher.update([e.label as u8, e.official.map_or(0, |o| o as u8 + 1), 0xff]);
        if let Some(votes) = e.votes {
            hasher.update(votes);
            hasher.update([0xfe]);
        }
    }
    hex::encode(hasher.finalize())
}

/// Listed images per class in the official train and test parts, if the dataset has them.
fn official_counts(listing: &Listing) -> Option<[[usize; NUM_CLASSES]; 2]> {
    let mut counts = [[0; NUM_CLASSES]; 2];
    for e in &listing.entries {
        counts[e.official? as usize][e.label.index()] += 1;
    }
    Some(counts)
}

/// Why an entry could not be decoded (the entry is then skipped as unreadable).
#[derive(Debug, thiserror::Error)]
enum DecodeError {
    /// Pixels from a CSV row that do not make the declared image.
    #[error(transparent)]
    Pixels(#[from] shared::image::ImageError),
    /// An image file that cannot be read or decoded (the message names the file).
    #[error(transparent)]
    File(#[from] artifacts::image::ImageFileError),
}

/// Decodes an entry to 8-bit grey ([`artifacts::image`] for files).
fn decode(origin: &Origin) -> Result<GrayImage, DecodeError> {
    Ok(match origin {
        Origin::Pixels { width, height, pixels } => GrayImage::from_raw(*width, *height, pixels.clone())?,
        Origin::File(path) => artifacts::image::load(path)?,
    })
}

/// Decode, find the face, preprocess: the 48x48 pixels or why the entry was skipped.
fn process(
    entry: &Entry,
    finder: &dyn FaceFinder,
    config: &PrepareConfig,
    enhancer: &dyn FaceEnhancer,
) -> Result<Vec<u8>, (SkipReason, String)> {
    let frame = decode(&entry.origin).map_err(|e| (SkipReason::Unreadable, e.to_string()))?;
    let face = finder.find(&frame).ok_or((
        SkipReason::NoFace,
        format!("{}x{} frame", frame.width(), frame.height()),
    ))?;
    let face = faces::preprocess(&frame, face, &config.data.preprocessing, enhancer)
        .map_err(|e| (SkipReason::Unreadable, e.to_string()))?;
    Ok(face.into_pixels())
}

/// Runs [`process`] over all entries on worker threads, keeping the entries' order.
fn process_all(
    entries: &[Entry],
    finder: &dyn FaceFinder,
    config: &PrepareConfig,
    enhancer: &dyn FaceEnhancer,
    bar: &indicatif::ProgressBar,
) -> Vec<Result<Vec<u8>, (SkipReason, String)>> {
    let threads = match config.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .clamp(1, entries.len().max(1));
    let chunk = entries.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = entries
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|e| {
                            let r = process(e, finder, config, enhancer);
                            bar.inc(1);
                            r
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("preprocessing worker panicked"))
            .collect()
    })
}

fn prepare_dataset(
    kind: DatasetKind,
    config: &PrepareConfig,
    enhancer: &dyn FaceEnhancer,
) -> Result<(DatasetReport, Splits), DataError> {
    let start = Instant::now();
    let dir = config.dataset_dir(kind)?;
    tracing::info!(dataset = %kind, dir = %dir.display(), "reading");
    let mut listing = read_dataset(kind, &dir, config.contempt)?;
    let listed = listing.class_counts();
    let listed_official = official_counts(&listing);
    let digest = source_digest(&dir, &listing);
    let finder = faces::finder_for(kind, config)?;
    tracing::info!(dataset = %kind, images = listing.entries.len(), finder = %finder.id(), enhancer = %enhancer.id(), "preprocessing");

    let bar = crate::progress::bar(listing.entries.len() as u64, kind.name());
    let results = process_all(&listing.entries, finder.as_ref(), config, enhancer, &bar);
    bar.finish_and_clear();

    // Cleaning: failed decodes / no face, then exact duplicates (first in path order wins).
    let entries = std::mem::take(&mut listing.entries);
    let mut seen: HashMap<Vec<u8>, (String, Emotion)> = HashMap::new();
    let mut candidates = Vec::with_capacity(entries.len());
    for (entry, result) in entries.into_iter().zip(results) {
        let pixels = match result {
            Ok(pixels) => pixels,
            Err((reason, detail)) => {
                listing.skip(entry.display, reason, detail);
                continue;
            }
        };
        if let Some((first, label)) = seen.get(&pixels) {
            let detail = format!("same pixels as {first} ({label} vs {})", entry.label);
            listing.skip(entry.display, SkipReason::Duplicate, detail);
            continue;
        }
        seen.insert(pixels.clone(), (entry.source.clone(), entry.label));
        let sample = Sample {
            pixels,
            label: entry.label,
            dataset: kind,
            subject: entry.subject,
            source: entry.source,
            augmented: false,
            votes: entry.votes,
        };
        candidates.push(Candidate {
            sample,
            official: entry.official,
        });
    }
    drop(seen);
    if candidates.is_empty() {
        return Err(DataError::Empty {
            kind,
            path: dir,
            detail: format!("all {} images were skipped", listing.skipped.len()),
        });
    }

    let mut rng = ChaCha8Rng::seed_from_u64(config.data.seed ^ seed_salt(kind));
    let fractions = Fractions {
        test: config.test_fraction,
        val: config.val_fraction,
    };
    let mut splits = split(candidates, kind, config.data.protocol, fractions, &mut rng);
    let originals = splits.class_counts();
    rng.set_stream(1);
    let augmented = balance(&mut splits.train, &config.data.balance, &mut rng);

    let finder_id = finder.id();
    let mut cache_files = Vec::new();
    for name in SplitName::ALL {
        let path = cache::cache_path(&config.data.cache_dir, kind, config.data.protocol, name);
        let samples = splits.part(name);
        cache::write(
            &path,
            &header(kind, name, config, enhancer, &finder_id, &digest, samples.len() as u64),
            samples,
        )?;
        cache_files.push(path);
    }
    let summary_file = cache::summary_path(&config.data.cache_dir, kind, config.data.protocol);
    let mut report = DatasetReport {
        kind,
        dir,
        listed,
        listed_official,
        skipped: listing.skipped,
        originals,
        augmented,
        cache_files,
        summary_file: summary_file.clone(),
        elapsed: start.elapsed(),
    };
    let markdown = render_summary(&report, config, enhancer);
    std::fs::write(&summary_file, &markdown).map_err(|e| DataError::io(&summary_file, e))?;
    report.elapsed = start.elapsed();
    let bad: usize = report.skipped.iter().filter(|s| s.reason.is_bad_input()).count();
    tracing::info!(
        dataset = %kind,
        train = splits.train.len(), val = splits.val.len(), test = splits.test.len(),
        skipped = report.skipped.len(), bad_input = bad,
        seconds = format!("{:.1}", report.elapsed.as_secs_f64()),
        "prepared"
    );
    Ok((report, splits))
}

mod summary;
pub use summary::render_summary;

#[cfg(test)]
mod tests;
