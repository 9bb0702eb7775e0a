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
pub(crate) mod tests {
    use super::*;
    use rand::SeedableRng;
    use shared::Emotion;

    /// `n` samples of `subjects` subjects, labels cycling, distinct pixels.
    pub(crate) fn candidates(kind: DatasetKind, n: usize, subjects: usize) -> Vec<Candidate> {
        (0..n)
            .map(|i| Candidate {
                sample: Sample {
                    // The first four bytes hold the index, so every sample's pixels differ.
                    pixels: (0..48 * 48)
                        .map(|p| {
                            if p < 4 {
                                (i >> (8 * p)) as u8
                            } else {
                                (p * 31 + i * 7) as u8
                            }
                        })
                        .collect(),
                    label: Emotion::ALL[i % 7],
                    dataset: kind,
                    subject: format!("S{:03}", i % subjects),
                    source: format!("S{:03}_{i:05}.png", i % subjects),
                    augmented: false,
                    votes: None,
                },
                official: Some(if i % 5 == 0 {
                    OfficialSplit::Test
                } else {
                    OfficialSplit::Train
                }),
            })
            .collect()
    }

    const FRACTIONS: Fractions = Fractions { test: 0.2, val: 0.1 };

    fn run(kind: DatasetKind, protocol: SplitProtocol, seed: u64, n: usize, subjects: usize) -> Splits {
        split(
            candidates(kind, n, subjects),
            kind,
            protocol,
            FRACTIONS,
            &mut ChaCha8Rng::seed_from_u64(seed),
        )
    }

    #[test]
    fn paper_split_is_four_to_one_then_ten_percent_and_stratified() {
        let s = run(DatasetKind::CkPlus, SplitProtocol::Paper, 1, 700, 20);
        assert_eq!(s.test.len(), 140);
        assert_eq!(s.val.len(), 56);
        assert_eq!(s.train.len(), 504);
        let counts = s.class_counts();
        assert!(counts[2].iter().all(|&c| c == 20), "{counts:?}");
        check_disjoint(&s, false).unwrap();
        // Random, so the subjects leak: exactly what the subject protocol exists to avoid.
        assert!(check_disjoint(&s, true).is_err());
    }

    #[test]
    fn subject_split_keeps_subjects_apart() {
        for (kind, n, subjects) in [(DatasetKind::CkPlus, 900, 118), (DatasetKind::Jaffe, 213, 10)] {
            for seed in 0..20 {
                let s = run(kind, SplitProtocol::Subject, seed, n, subjects);
                check_disjoint(&s, true).unwrap_or_else(|e| panic!("{kind} seed {seed}: {e}"));
                assert_eq!(s.train.len() + s.val.len() + s.test.len(), n);
                assert!(!s.val.is_empty() && !s.test.is_empty());
                let test_share = s.test.len() as f64 / n as f64;
                assert!(
                    (0.1..0.3).contains(&test_share),
                    "{kind} seed {seed}: test share {test_share}"
                );
            }
        }
    }

    #[test]
    fn subject_split_uses_the_official_split_without_subjects() {
        let s = run(DatasetKind::Fer2013, SplitProtocol::Subject, 3, 1000, 1000);
        assert_eq!(s.test.len(), 200);
        assert!(s.test.iter().all(|x| x.source.ends_with(".png")));
        assert_eq!(s.val.len() + s.train.len(), 800);
        // 10% of each class, rounded per class.
        assert!((75..=85).contains(&s.val.len()), "{}", s.val.len());
        check_disjoint(&s, true).unwrap();
    }

    #[test]
    fn ferplus_keeps_its_official_test_part_under_the_paper_protocol() {
        let paper = run(DatasetKind::FerPlus, SplitProtocol::Paper, 3, 1000, 1000);
        let subject = run(DatasetKind::FerPlus, SplitProtocol::Subject, 3, 1000, 1000);
        assert_eq!(paper, subject);
        assert_eq!(paper.test.len(), 200);
        // FER2013 keeps the paper's random split, which mixes the official parts.
        let fer = run(DatasetKind::Fer2013, SplitProtocol::Paper, 3, 1000, 1000);
        assert_ne!(fer.test, paper.test);
    }

    #[test]
    fn splits_are_reproducible_and_seed_dependent() {
        for protocol in [SplitProtocol::Paper, SplitProtocol::Subject] {
            let a = run(DatasetKind::Jaffe, protocol, 42, 213, 10);
            assert_eq!(a, run(DatasetKind::Jaffe, protocol, 42, 213, 10));
            let sources = |s: &Splits| s.test.iter().map(|x| x.source.clone()).collect::<Vec<_>>();
            assert!((0..5).any(|seed| sources(&run(DatasetKind::Jaffe, protocol, seed, 213, 10)) != sources(&a)));
        }
    }

    #[test]
    fn leaks_are_detected() {
        let mut s = run(DatasetKind::CkPlus, SplitProtocol::Subject, 7, 300, 30);
        check_disjoint(&s, true).unwrap();

        let mut copy = s.train[0].clone();
        copy.augmented = true;
        copy.pixels[10] ^= 1;
        let mut bad = s.clone();
        bad.test.push(copy.clone());
        assert!(matches!(
            check_disjoint(&bad, false),
            Err(Leak::AugmentedOutsideTrain { .. })
        ));

        copy.augmented = false;
        let mut bad = s.clone();
        bad.val.push(copy.clone());
        assert!(matches!(check_disjoint(&bad, false), Err(Leak::Source { .. })));

        let mut same_pixels = s.train[0].clone();
        same_pixels.source = "other.png".into();
        same_pixels.subject = "S999".into();
        let mut bad = s.clone();
        bad.test.push(same_pixels);
        assert!(matches!(check_disjoint(&bad, true), Err(Leak::Pixels { .. })));

        let mut same_subject = s.test[0].clone();
        same_subject.source = "new.png".into();
        same_subject.pixels[0] ^= 0xff;
        same_subject.pixels[1] ^= 0xff;
        s.train.push(same_subject);
        assert!(matches!(check_disjoint(&s, true), Err(Leak::Subject { .. })));
        assert!(check_disjoint(&s, false).is_ok());
    }
}
