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
