use super::*;
use crate::data::split::check_disjoint;
use crate::data::test_util::{write_png, write_truncated_png};
use crate::data::{BalanceConfig, DataSelection, SplitProtocol, cache::CacheHeader};

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

/// FER+'s votes are the soft targets: the same faces with other votes (same majority) are
/// another input, or a cache would go on training on the old distributions.
#[test]
fn the_source_digest_covers_votes() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("fer0000001.png");
    std::fs::write(&path, [1u8, 2, 3, 4]).unwrap();
    let with = |votes| Listing {
        entries: vec![crate::data::Entry {
            origin: crate::data::Origin::File(path.clone()),
            display: "fer0000001.png".into(),
            label: shared::Emotion::Happy,
            subject: "fer0000001".into(),
            source: "fer0000001.png".into(),
            official: None,
            votes,
        }],
        skipped: vec![],
    };
    let a = source_digest(tmp.path(), &with(Some([0, 6, 0, 0, 0, 0, 4])));
    let b = source_digest(tmp.path(), &with(Some([0, 7, 0, 0, 0, 0, 3])));
    assert_ne!(a, b);
    assert_ne!(a, source_digest(tmp.path(), &with(None)));
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
        data: DataSelection {
            data_root: root.to_path_buf(),
            datasets: vec![DatasetKind::CkPlus],
            protocol,
            cache_dir: root.join("prepared"),
            ..DataSelection::default()
        },
        threads: 2,
        ..PrepareConfig::default()
    }
}

/// `config` with the faces left unenhanced (no CLAHE).
fn without_enhancement(config: &PrepareConfig) -> PrepareConfig {
    let mut plain = config.clone();
    plain.data.preprocessing.enhancement = shared::preprocess::Enhancement::None;
    plain
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
            &config.data.cache_dir,
            DatasetKind::CkPlus,
            SplitProtocol::Subject,
            SplitName::Train
        )
        .is_file()
    );
    assert_eq!(load_splits(&config).unwrap(), first);

    let other = PrepareConfig {
        data: DataSelection {
            seed: 7,
            ..config.data.clone()
        },
        ..config.clone()
    };
    let err = load_splits(&other).unwrap_err();
    assert!(
        matches!(err, DataError::CacheMismatch { .. }) && err.to_string().contains("seed"),
        "{err}"
    );
    let none = without_enhancement(&config);
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
        data: DataSelection {
            seed: 1,
            ..config(tmp.path(), SplitProtocol::Paper).data
        },
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
    let plain_config = without_enhancement(&config(tmp.path(), SplitProtocol::Paper));
    let plain = prepare(&plain_config).unwrap();
    assert_ne!(clahe.splits.test[0].pixels, plain.splits.test[0].pixels);
    let path = cache::cache_path(
        &plain_config.data.cache_dir,
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
        data: DataSelection {
            balance: BalanceConfig::off(),
            cache_dir: tmp.path().join("prepared-off"),
            ..config(tmp.path(), SplitProtocol::Paper).data
        },
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
        data: DataSelection {
            balance: BalanceConfig::default(),
            ..off_config.data.clone()
        },
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

    fn enhance(&self, face: &GrayImage) -> Result<GrayImage, artifacts::enhancer::EnhanceError> {
        let pixels = face.pixels().iter().map(|&p| 255 - p).collect();
        Ok(GrayImage::from_raw(face.width(), face.height(), pixels).unwrap())
    }
}

#[test]
fn another_enhancer_plugs_into_the_seam() {
    let tmp = tempfile::tempdir().unwrap();
    small_ckplus(tmp.path(), 6);
    let config = without_enhancement(&config(tmp.path(), SplitProtocol::Paper));
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
    let e = decode(&Origin::File(bad)).unwrap_err();
    assert!(
        e.to_string().contains("cannot decode") && e.to_string().contains("bad.png"),
        "{e}"
    );
    let e = decode(&Origin::File(tmp.path().join("missing.png"))).unwrap_err();
    assert!(
        e.to_string().contains("cannot read") && e.to_string().contains("missing.png"),
        "{e}"
    );
    let short = Origin::Pixels {
        width: 2,
        height: 2,
        pixels: vec![0; 3],
    };
    assert!(matches!(decode(&short), Err(DecodeError::Pixels(_))));
}
