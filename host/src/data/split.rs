//! Seeded, reproducible train / validation / test splits of one dataset.
//!
//! * [`SplitProtocol::Paper`]: random 4:1 train:test, then 10% of train for validation, as
//!   the paper does. Drawn per class (stratified) so small classes such as FER2013 disgust get
//!   their share of each part. Near-identical frames of one CK+ subject or JAFFE poser end up
//!   on both sides: numbers on this split are optimistic, which is why the other exists.
//! * [`SplitProtocol::Subject`]: CK+ by subject and JAFFE by poser, whole groups drawn at
//!   random until each part is as close as possible to its share; validation is grouped too.
//!   FER2013 and RAF-DB have no subject ids, so their own official train / test split is used,
//!   with a random 10% of train for validation.
//!
//! Duplicates are removed before splitting and balancing only touches the training part, so
//! [`check_disjoint`] holds for every result: no source file, identical pixels, or (for the
//! subject protocol) subject appears in two parts.

use std::collections::{BTreeMap, HashMap};

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::{DatasetKind, OfficialSplit, Sample, SplitName, SplitProtocol, Splits};

/// A prepared sample with the dataset's own split, before splitting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The sample.
    pub sample: Sample,
    /// The dataset's official split, if any.
    pub official: Option<OfficialSplit>,
}

/// Fractions of the split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fractions {
    /// Share of the dataset for test (paper protocol and grouped splits).
    pub test: f32,
    /// Share of the training part for validation.
    pub val: f32,
}

/// Whether the subject protocol groups this dataset by subject (else it uses the official
/// split).
pub const fn grouped_by_subject(kind: DatasetKind) -> bool {
    matches!(kind, DatasetKind::CkPlus | DatasetKind::Jaffe)
}

/// Whether the dataset keeps its official train / test split under every protocol. FER+'s
/// test part is FER2013's PublicTest, which this project never trains on (FER2013 keeps the
/// paper's random split for the paper's tables).
pub const fn always_official(kind: DatasetKind) -> bool {
    matches!(kind, DatasetKind::FerPlus)
}

/// Splits one dataset's samples (given in a deterministic order) with `rng`.
pub fn split(
    candidates: Vec<Candidate>,
    kind: DatasetKind,
    protocol: SplitProtocol,
    fractions: Fractions,
    rng: &mut ChaCha8Rng,
) -> Splits {
    let mut splits = Splits::default();
    match protocol {
        SplitProtocol::Paper if !always_official(kind) => {
            let all: Vec<Sample> = candidates.into_iter().map(|c| c.sample).collect();
            let (train, test) = stratified(all, fractions.test, rng);
            let (train, val) = stratified(train, fractions.val, rng);
            (splits.train, splits.val, splits.test) = (train, val, test);
        }
        SplitProtocol::Subject if grouped_by_subject(kind) => {
            let all: Vec<Sample> = candidates.into_iter().map(|c| c.sample).collect();
            let (train, test) = grouped(all, fractions.test, rng);
            let (train, val) = grouped(train, fractions.val, rng);
            (splits.train, splits.val, splits.test) = (train, val, test);
        }
        SplitProtocol::Paper | SplitProtocol::Subject => {
            let (mut train, mut test) = (Vec::new(), Vec::new());
            for c in candidates {
                match c.official {
                    Some(OfficialSplit::Test) => test.push(c.sample),
                    // Without an official split an image counts as training data.
                    Some(OfficialSplit::Train) | None => train.push(c.sample),
                }
            }
            let (train, val) = stratified(train, fractions.val, rng);
            (splits.train, splits.val, splits.test) = (train, val, test);
        }
    }
    for name in SplitName::ALL {
        splits.part_mut(name).sort_by(|a, b| a.source.cmp(&b.source));
    }
    splits
}

/// Per class: shuffle, then `round(n * fraction)` go to the second part.
fn stratified(samples: Vec<Sample>, fraction: f32, rng: &mut ChaCha8Rng) -> (Vec<Sample>, Vec<Sample>) {
    let mut by_class: BTreeMap<shared::Emotion, Vec<Sample>> = BTreeMap::new();
    for s in samples {
        by_class.entry(s.label).or_default().push(s);
    }
    let (mut keep, mut held) = (Vec::new(), Vec::new());
    for (_, mut class) in by_class {
        class.shuffle(rng);
        let n_held = (class.len() as f64 * fraction as f64).round() as usize;
        held.extend(class.drain(..n_held.min(class.len())));
        keep.extend(class);
    }
    (keep, held)
}

/// Whole subjects, in random order, go to the second part whenever that brings its size closer
/// to `fraction` of the total. With two or more subjects neither part is left empty.
fn grouped(samples: Vec<Sample>, fraction: f32, rng: &mut ChaCha8Rng) -> (Vec<Sample>, Vec<Sample>) {
    let mut groups: BTreeMap<String, Vec<Sample>> = BTreeMap::new();
    for s in samples {
        groups.entry(s.subject.clone()).or_default().push(s);
    }
    let total: usize = groups.values().map(Vec::len).sum();
    let target = total as f64 * fraction as f64;
    let mut order: Vec<Vec<Sample>> = groups.into_values().collect();
    order.shuffle(rng);
    let (mut keep, mut held): (Vec<Vec<Sample>>, Vec<Vec<Sample>>) = (Vec::new(), Vec::new());
    let mut held_count = 0usize;
    for group in order {
        let with = held_count + group.len();
        if (with as f64 - target).abs() < (held_count as f64 - target).abs() {
            held_count = with;
            held.push(group);
        } else {
            keep.push(group);
        }
    }
    // Every group was too large for the share (or the share was everything): move the
    // smallest group across so both parts exist.
    if held.is_empty() && fraction > 0.0 && keep.len() >= 2 {
        move_smallest(&mut keep, &mut held);
    } else if keep.is_empty() && held.len() >= 2 {
        move_smallest(&mut held, &mut keep);
    }
    (
        keep.into_iter().flatten().collect(),
        held.into_iter().flatten().collect(),
    )
}

fn move_smallest(from: &mut Vec<Vec<Sample>>, to: &mut Vec<Vec<Sample>>) {
    if let Some(i) = (0..from.len()).min_by_key(|&i| from[i].len()) {
        to.push(from.remove(i));
    }
}

/// A leak between parts of a split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Leak {
    /// One source file (or a noisy copy of it) in two parts.
    #[error("{dataset} source {source_name} is in both {a} and {b}")]
    Source {
        /// Dataset.
        dataset: DatasetKind,
        /// File name.
        source_name: String,
        /// One part.
        a: SplitName,
        /// The other.
        b: SplitName,
    },
    /// The same pixels in two parts.
    #[error("{dataset} {first} ({a}) and {second} ({b}) have identical pixels")]
    Pixels {
        /// Dataset.
        dataset: DatasetKind,
        /// One source.
        first: String,
        /// Its part.
        a: SplitName,
        /// The other source.
        second: String,
        /// Its part.
        b: SplitName,
    },
    /// One subject in two parts of a subject-independent split.
    #[error("{dataset} subject {subject} is in both {a} and {b}")]
    Subject {
        /// Dataset.
        dataset: DatasetKind,
        /// Subject id.
        subject: String,
        /// One part.
        a: SplitName,
        /// The other.
        b: SplitName,
    },
    /// A noisy copy outside the training part.
    #[error("{dataset} augmented copy of {source_name} in {part}")]
    AugmentedOutsideTrain {
        /// Dataset.
        dataset: DatasetKind,
        /// Source of the copy.
        source_name: String,
        /// Where it is.
        part: SplitName,
    },
}

/// Checks that no image, noisy copy, identical pixels, or (with `by_subject`, for the datasets
/// the subject protocol groups) subject is shared between train, validation and test.
pub fn check_disjoint(splits: &Splits, by_subject: bool) -> Result<(), Leak> {
    let mut sources: HashMap<(DatasetKind, &str), SplitName> = HashMap::new();
    let mut subjects: HashMap<(DatasetKind, &str), SplitName> = HashMap::new();
    let mut pixels: HashMap<(DatasetKind, &[u8]), (SplitName, &str)> = HashMap::new();
    for part in SplitName::ALL {
        for s in splits.part(part) {
            if s.augmented && part != SplitName::Train {
                return Err(Leak::AugmentedOutsideTrain {
                    dataset: s.dataset,
                    source_name: s.source.clone(),
                    part,
                });
            }
            if let Some(&other) = sources.get(&(s.dataset, s.source.as_str())) {
                if other != part {
                    return Err(Leak::Source {
                        dataset: s.dataset,
                        source_name: s.source.clone(),
                        a: other,
                        b: part,
                    });
                }
            } else {
                sources.insert((s.dataset, &s.source), part);
            }
            if by_subject && grouped_by_subject(s.dataset) {
                match subjects.get(&(s.dataset, s.subject.as_str())) {
                    Some(&other) if other != part => {
                        return Err(Leak::Subject {
                            dataset: s.dataset,
                            subject: s.subject.clone(),
                            a: other,
                            b: part,
                        });
                    }
                    Some(_) => {}
                    None => {
                        subjects.insert((s.dataset, &s.subject), part);
                    }
                }
            }
            if let Some(&(other, first)) = pixels.get(&(s.dataset, s.pixels.as_slice())) {
                if other != part {
                    return Err(Leak::Pixels {
                        dataset: s.dataset,
                        first: first.into(),
                        a: other,
                        second: s.source.clone(),
                        b: part,
                    });
                }
            } else {
                pixels.insert((s.dataset, &s.pixels), (part, &s.source));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
