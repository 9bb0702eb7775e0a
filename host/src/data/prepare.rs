//! Preparation of one or more datasets: list, decode, find the face, crop to 48x48 grey with
//! the shared preprocessing, clean (no face, exact duplicates), split, balance the training
//! part, write the cache and a Markdown summary; and [`load_splits`], which reads the cache
//! back (preparing first when it is missing).
//!
//! Decoding and preprocessing run on worker threads; results are collected in listing order,
//! so the output does not depend on the thread count.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use shared::{Emotion, GrayImage, NUM_CLASSES};

use super::balance::balance;
use super::cache::{self, CacheHeader};
use super::faces::{self, ClassicalEnhancer, FaceEnhancer, FaceFinder};
use super::split::{Candidate, Fractions, split};
use super::{
    DataError, DatasetKind, Entry, Listing, Origin, PrepareConfig, Sample, SkipReason, Skipped, SplitName, Splits,
    read_dataset,
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

/// Prepares every configured dataset with the classical enhancer of
/// `config.preprocessing.enhancement`, overwriting its cache files.
pub fn prepare(config: &PrepareConfig) -> Result<PrepareReport, DataError> {
    prepare_with(config, &ClassicalEnhancer(config.preprocessing.enhancement))
}

/// [`prepare`] with another enhancer (the seam for a learned, FFA-Net-style one).
pub fn prepare_with(config: &PrepareConfig, enhancer: &dyn FaceEnhancer) -> Result<PrepareReport, DataError> {
    config.validate()?;
    let mut report = PrepareReport {
        datasets: Vec::new(),
        splits: Splits::default(),
    };
    for &kind in &config.datasets {
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
    load_splits_with(config, &ClassicalEnhancer(config.preprocessing.enhancement))
}

/// [`load_splits`] for caches made with another enhancer (see [`prepare_with`]).
pub fn load_splits_with(config: &PrepareConfig, enhancer: &dyn FaceEnhancer) -> Result<Splits, DataError> {
    config.validate()?;
    let mut splits = Splits::default();
    for &kind in &config.datasets {
        let paths: Vec<PathBuf> = SplitName::ALL
            .iter()
            .map(|&s| cache::cache_path(&config.cache_dir, kind, config.protocol, s))
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
            tracing::info!(dataset = %kind, "loaded prepared splits from {} without checking the source files", config.cache_dir.display());
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
            tracing::info!(dataset = %kind, protocol = %config.protocol, "loaded prepared splits from {}", config.cache_dir.display());
            splits.extend(loaded);
        } else {
            tracing::info!(dataset = %kind, "no prepared cache in {}: preparing", config.cache_dir.display());
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
        protocol: config.protocol,
        split,
        seed: config.seed,
        preprocessing: config.preprocessing,
        preprocess_version: shared::preprocess::PREPROCESS_VERSION,
        enhancer: enhancer.id(),
        face_finder: finder_id.into(),
        balance: config.balance,
        contempt: config.contempt,
        test_fraction: config.test_fraction,
        val_fraction: config.val_fraction,
        source_digest: digest.into(),
        count,
    }
}

/// SHA-256 over what the reader listed: relative path, content, label and official split of
/// each entry (pixels for CSV rows). No decoding, so it costs a read of the files (about a
/// second for FER+), and it changes when any byte of any input does.
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

/// Decodes an entry to 8-bit grey ([`artifacts::image`] for files).
pub fn decode(origin: &Origin) -> Result<GrayImage, String> {
    match origin {
        Origin::Pixels { width, height, pixels } => {
            GrayImage::from_raw(*width, *height, pixels.clone()).map_err(|e| e.to_string())
        }
        Origin::File(path) => artifacts::image::load(path).map_err(|e| e.to_string()),
    }
}

/// Decode, find the face, preprocess: the 48x48 pixels or why the entry was skipped.
fn process(
    entry: &Entry,
    finder: &dyn FaceFinder,
    config: &PrepareConfig,
    enhancer: &dyn FaceEnhancer,
) -> Result<Vec<u8>, (SkipReason, String)> {
    let frame = decode(&entry.origin).map_err(|e| (SkipReason::Unreadable, e))?;
    let face = finder.find(&frame).ok_or((
        SkipReason::NoFace,
        format!("{}x{} frame", frame.width(), frame.height()),
    ))?;
    let face = faces::preprocess(&frame, face, &config.preprocessing, enhancer)
        .map_err(|e| (SkipReason::Unreadable, e.to_string()))?;
    Ok(face.into_pixels())
}

fn progress(len: usize, kind: DatasetKind) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    let style = ProgressStyle::with_template("{prefix:>8} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(kind.name());
    bar
}

/// Runs [`process`] over all entries on worker threads, keeping the entries' order.
fn process_all(
    entries: &[Entry],
    finder: &dyn FaceFinder,
    config: &PrepareConfig,
    enhancer: &dyn FaceEnhancer,
    bar: &ProgressBar,
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

    let bar = progress(listing.entries.len(), kind);
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

    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ kind.seed_salt());
    let fractions = Fractions {
        test: config.test_fraction,
        val: config.val_fraction,
    };
    let mut splits = split(candidates, kind, config.protocol, fractions, &mut rng);
    let originals = splits.class_counts();
    rng.set_stream(1);
    let augmented = balance(&mut splits.train, &config.balance, &mut rng);

    let finder_id = finder.id();
    let mut cache_files = Vec::new();
    for name in SplitName::ALL {
        let path = cache::cache_path(&config.cache_dir, kind, config.protocol, name);
        let samples = splits.part(name);
        cache::write(
            &path,
            &header(kind, name, config, enhancer, &finder_id, &digest, samples.len() as u64),
            samples,
        )?;
        cache_files.push(path);
    }
    let summary_file = cache::summary_path(&config.cache_dir, kind, config.protocol);
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

/// The Markdown summary of one dataset: counts per class and split, and what was skipped.
pub fn render_summary(report: &DatasetReport, config: &PrepareConfig, enhancer: &dyn FaceEnhancer) -> String {
    let mut md = String::new();
    let protocol = config.protocol;
    let _ = writeln!(md, "## {} — {} split\n", report.kind, protocol);
    let _ = writeln!(
        md,
        "Source `{}`; seed {}; enhancement `{}`; balance factor {} (noise std {:.3}); contempt {:?}.\n",
        report.dir.display(),
        config.seed,
        enhancer.id(),
        config.balance.factor,
        config.balance.noise_std,
        config.contempt
    );
    let official = report.listed_official;
    let mut columns = vec!["listed"];
    if official.is_some() {
        columns.extend(["official train", "official test"]);
    }
    columns.extend(["train", "+ noisy", "val", "test", "kept"]);
    let _ = writeln!(md, "| class | {} |", columns.join(" | "));
    let _ = writeln!(md, "|---|{}", "---:|".repeat(columns.len()));
    let mut totals = vec![0usize; columns.len()];
    for e in Emotion::ALL {
        let i = e.index();
        let [train, val, test] = [report.originals[0][i], report.originals[1][i], report.originals[2][i]];
        let mut row = vec![report.listed[i]];
        if let Some(o) = official {
            row.extend([o[0][i], o[1][i]]);
        }
        row.extend([train, report.augmented[i], val, test, train + val + test]);
        if row.iter().all(|&n| n == 0) {
            continue;
        }
        for (t, n) in totals.iter_mut().zip(&row) {
            *t += n;
        }
        let cells: Vec<String> = row.iter().map(usize::to_string).collect();
        let _ = writeln!(md, "| {} | {} |", e.name(), cells.join(" | "));
    }
    let cells: Vec<String> = totals.iter().map(usize::to_string).collect();
    let _ = writeln!(md, "| **total** | {} |\n", cells.join(" | "));
    let _ = writeln!(
        md,
        "*listed*: labelled images found{}; *train / val / test*: originals after cleaning; *+ noisy*: \
         Gaussian-noise copies added to train; *kept*: train + val + test originals.\n",
        if official.is_some() {
            " (and per official split)"
        } else {
            ""
        }
    );
    let counts = report.skip_counts();
    if counts.is_empty() {
        let _ = writeln!(md, "Nothing skipped.");
    } else {
        let _ = writeln!(md, "| skipped because | count | first example |");
        let _ = writeln!(md, "|---|---:|---|");
        for (reason, n) in counts {
            let example = report
                .skipped
                .iter()
                .find(|s| s.reason == reason)
                .map(|s| format!("`{}`: {}", s.path, s.detail))
                .unwrap_or_default();
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                reason.describe(),
                n,
                example.replace('|', "\\|")
            );
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::split::check_disjoint;
    use crate::data::test_util::{write_png, write_truncated_png};
    use crate::data::{BalanceConfig, SplitProtocol, cache::CacheHeader};

    /// A file edited in place (same name, same size) is a different input: caches made
    /// from the old bytes are refused.
    #[test]
    fn the_source_digest_covers_file_contents() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a.png");
        std::fs::write(&path, [1u8, 2, 3, 4]).unwrap();
        let listing = Listing {
            entries: vec![crate::data::Entry {
                origin: crate::data::Origin::File(path.clone()),
                display: "a.png".into(),
                label: shared::Emotion::Happy,
                subject: "s".into(),
                source: "a.png".into(),
                official: None,
                votes: None,
            }],
            skipped: vec![],
        };
        let before = source_digest(tmp.path(), &listing);
        assert_eq!(before, source_digest(tmp.path(), &listing), "deterministic");
        std::fs::write(&path, [1u8, 2, 3, 5]).unwrap();
        assert_ne!(before, source_digest(tmp.path(), &listing));
    }

    /// A small CK+-style tree: `per_class` images for 4 classes over 8 subjects, one truncated
    /// PNG, one exact duplicate, one unknown-label folder.
    fn small_ckplus(root: &Path, per_class: usize) {
        for (c, label) in ["anger", "happy", "sadness", "surprise"].iter().enumerate() {
            let n = if *label == "happy" { per_class * 2 } else { per_class };
            for i in 0..n {
                let name = format!("{label}/S{:03}_{c:03}_{i:08}.png", i % 8);
                write_png(&root.join("ckplus").join(name), 48, 48, (c * 64 + i) as u8);
            }
        }
        write_truncated_png(&root.join("ckplus/anger/S001_009_00000001.png"));
        // Byte-for-byte the same picture as an existing one under another name.
        std::fs::copy(
            root.join("ckplus/happy/S000_001_00000000.png"),
            root.join("ckplus/happy/S000_009_00000099.png"),
        )
        .unwrap();
        write_png(&root.join("ckplus/joy/S002_001_00000001.png"), 48, 48, 3);
    }

    fn config(root: &Path, protocol: SplitProtocol) -> PrepareConfig {
        PrepareConfig {
            data_root: root.to_path_buf(),
            datasets: vec![DatasetKind::CkPlus],
            protocol,
            cache_dir: root.join("prepared"),
            threads: 2,
            ..PrepareConfig::default()
        }
    }

    #[test]
    fn prepares_cleans_splits_balances_and_caches() {
        let tmp = tempfile::tempdir().unwrap();
        small_ckplus(tmp.path(), 20);
        for protocol in [SplitProtocol::Paper, SplitProtocol::Subject] {
            let config = config(tmp.path(), protocol);
            let report = prepare(&config).unwrap();
            let d = &report.datasets[0];
            let reasons = d.skip_counts();
            assert_eq!(
                reasons,
                [
                    (SkipReason::Unreadable, 1),
                    (SkipReason::UnknownLabel, 1),
                    (SkipReason::Duplicate, 1)
                ],
                "{:?}",
                d.skipped
            );
            assert!(
                d.skipped
                    .iter()
                    .any(|s| s.reason == SkipReason::Unreadable && s.path.ends_with("S001_009_00000001.png"))
            );
            assert_eq!(d.listed[Emotion::Happy.index()], 41);
            let kept: usize = d.originals.iter().flatten().sum();
            assert_eq!(kept, 20 * 3 + 40);
            // happy is the largest (40 originals overall); the others grow by up to 2x in train.
            let s = &report.splits;
            assert!(s.train.iter().any(|x| x.augmented));
            assert_eq!(
                s.train.iter().filter(|x| x.augmented).count(),
                d.augmented.iter().sum::<usize>()
            );
            check_disjoint(s, protocol == SplitProtocol::Subject).unwrap();
            assert!(
                s.train
                    .iter()
                    .chain(&s.val)
                    .chain(&s.test)
                    .all(|x| x.pixels.len() == 48 * 48)
            );

            // The cache gives back the same splits, and a summary sits beside it.
            let loaded = load_splits(&config).unwrap();
            assert_eq!(&loaded, s);
            let md = std::fs::read_to_string(&d.summary_file).unwrap();
            assert!(md.contains("| happy | 41 |") && md.contains("exact duplicate"), "{md}");
        }
    }

    #[test]
    fn load_splits_prepares_when_missing_and_refuses_other_settings() {
        let tmp = tempfile::tempdir().unwrap();
        small_ckplus(tmp.path(), 10);
        let config = config(tmp.path(), SplitProtocol::Subject);
        let first = load_splits(&config).unwrap();
        assert!(
            cache::cache_path(
                &config.cache_dir,
                DatasetKind::CkPlus,
                SplitProtocol::Subject,
                SplitName::Train
            )
            .is_file()
        );
        assert_eq!(load_splits(&config).unwrap(), first);

        let other = PrepareConfig {
            seed: 7,
            ..config.clone()
        };
        let err = load_splits(&other).unwrap_err();
        assert!(
            matches!(err, DataError::CacheMismatch { .. }) && err.to_string().contains("seed"),
            "{err}"
        );
        let none = PrepareConfig {
            preprocessing: shared::preprocess::Preprocessing {
                enhancement: shared::preprocess::Enhancement::None,
                ..config.preprocessing
            },
            ..config.clone()
        };
        assert!(load_splits(&none).unwrap_err().to_string().contains("preprocessing"));
        // Preparing with the new settings replaces the cache; then it loads.
        prepare(&none).unwrap();
        assert!(load_splits(&none).is_ok());

        // Changed input files are noticed.
        write_png(&tmp.path().join("ckplus/anger/S007_005_00000001.png"), 48, 48, 200);
        assert!(load_splits(&none).unwrap_err().to_string().contains("input files"));
    }

    #[test]
    fn same_seed_same_bytes_any_thread_count() {
        let tmp = tempfile::tempdir().unwrap();
        small_ckplus(tmp.path(), 12);
        let one = prepare(&PrepareConfig {
            threads: 1,
            ..config(tmp.path(), SplitProtocol::Paper)
        })
        .unwrap();
        let three = prepare(&PrepareConfig {
            threads: 3,
            ..config(tmp.path(), SplitProtocol::Paper)
        })
        .unwrap();
        assert_eq!(one.splits, three.splits);
        let other_seed = prepare(&PrepareConfig {
            seed: 1,
            ..config(tmp.path(), SplitProtocol::Paper)
        })
        .unwrap();
        assert_ne!(one.splits, other_seed.splits);
    }

    #[test]
    fn enhancement_changes_the_pixels_and_the_header() {
        let tmp = tempfile::tempdir().unwrap();
        small_ckplus(tmp.path(), 6);
        let clahe = prepare(&config(tmp.path(), SplitProtocol::Paper)).unwrap();
        let plain_config = PrepareConfig {
            preprocessing: shared::preprocess::Preprocessing {
                enhancement: shared::preprocess::Enhancement::None,
                ..shared::preprocess::Preprocessing::default()
            },
            ..config(tmp.path(), SplitProtocol::Paper)
        };
        let plain = prepare(&plain_config).unwrap();
        assert_ne!(clahe.splits.test[0].pixels, plain.splits.test[0].pixels);
        let path = cache::cache_path(
            &plain_config.cache_dir,
            DatasetKind::CkPlus,
            SplitProtocol::Paper,
            SplitName::Test,
        );
        let (found, _): (CacheHeader, _) = cache::read_any(&path).unwrap();
        assert_eq!(found.enhancer, "none");
    }

    #[test]
    fn balance_off_trains_on_the_unbalanced_originals() {
        let tmp = tempfile::tempdir().unwrap();
        small_ckplus(tmp.path(), 10);
        let balanced = prepare(&config(tmp.path(), SplitProtocol::Paper)).unwrap();
        let off_config = PrepareConfig {
            balance: BalanceConfig::off(),
            cache_dir: tmp.path().join("prepared-off"),
            ..config(tmp.path(), SplitProtocol::Paper)
        };
        let off = prepare(&off_config).unwrap();
        assert!(balanced.splits.train.iter().any(|s| s.augmented));
        assert!(off.splits.train.iter().all(|s| !s.augmented));
        assert_eq!(off.datasets[0].augmented, [0; shared::NUM_CLASSES]);
        // Same split, only the copies missing; val and test untouched.
        let originals: Vec<&Sample> = balanced.splits.train.iter().filter(|s| !s.augmented).collect();
        assert_eq!(off.splits.train.iter().collect::<Vec<_>>(), originals);
        assert_eq!(
            (&off.splits.val, &off.splits.test),
            (&balanced.splits.val, &balanced.splits.test)
        );
        // Happy keeps its 2:1 lead over the other classes.
        let count = |e: Emotion| off.splits.train.iter().filter(|s| s.label == e).count();
        assert!(
            count(Emotion::Happy) > count(Emotion::Angry) + 5,
            "{:?}",
            off.splits.class_counts()
        );
        // The cache knows which it holds.
        assert_eq!(load_splits(&off_config).unwrap(), off.splits);
        let wrong = PrepareConfig {
            balance: BalanceConfig::default(),
            ..off_config.clone()
        };
        let err = load_splits(&wrong).unwrap_err();
        assert!(
            matches!(err, DataError::CacheMismatch { .. }) && err.to_string().contains("balance"),
            "{err}"
        );
    }

    /// A stand-in for a learned enhancer: inverts the face.
    struct Invert;

    impl FaceEnhancer for Invert {
        fn id(&self) -> String {
            "invert-test".into()
        }

        fn enhance(&self, face: &GrayImage) -> GrayImage {
            let pixels = face.pixels().iter().map(|&p| 255 - p).collect();
            GrayImage::from_raw(face.width(), face.height(), pixels).unwrap()
        }
    }

    #[test]
    fn another_enhancer_plugs_into_the_seam() {
        let tmp = tempfile::tempdir().unwrap();
        small_ckplus(tmp.path(), 6);
        let config = PrepareConfig {
            preprocessing: shared::preprocess::Preprocessing {
                enhancement: shared::preprocess::Enhancement::None,
                ..shared::preprocess::Preprocessing::default()
            },
            ..config(tmp.path(), SplitProtocol::Paper)
        };
        let plain = prepare(&config).unwrap();
        let inverted = prepare_with(&config, &Invert).unwrap();
        let a = &plain.splits.test[0];
        let b = inverted.splits.test.iter().find(|s| s.source == a.source).unwrap();
        assert!(a.pixels.iter().zip(&b.pixels).all(|(x, y)| *x == 255 - *y));
        assert_eq!(load_splits_with(&config, &Invert).unwrap(), inverted.splits);
        let err = load_splits(&config).unwrap_err();
        assert!(err.to_string().contains("enhancer"), "{err}");
    }

    #[test]
    fn an_all_bad_dataset_is_refused_not_a_panic() {
        let tmp = tempfile::tempdir().unwrap();
        write_truncated_png(&tmp.path().join("ckplus/anger/S001_001_00000001.png"));
        let err = prepare(&config(tmp.path(), SplitProtocol::Paper)).unwrap_err();
        assert!(matches!(err, DataError::Empty { .. }), "{err}");
        std::fs::create_dir_all(tmp.path().join("empty/ckplus/anger")).unwrap();
        let err = prepare(&config(&tmp.path().join("empty"), SplitProtocol::Paper)).unwrap_err();
        assert!(matches!(err, DataError::Empty { .. }), "{err}");
    }

    #[test]
    fn palette_and_colour_images_become_luma() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("c.png");
        image::RgbImage::from_pixel(4, 4, image::Rgb([255, 0, 0]))
            .save(&path)
            .unwrap();
        let g = decode(&Origin::File(path)).unwrap();
        assert!(g.pixels().iter().all(|&p| p == shared::image::luma(255, 0, 0)));
        let bad = tmp.path().join("bad.png");
        write_truncated_png(&bad);
        assert!(decode(&Origin::File(bad)).is_err());
        assert!(decode(&Origin::File(tmp.path().join("missing.png"))).is_err());
    }
}
