//! `host robustness` measures what the edge computes: from clean (unenhanced) crops, its
//! "as trained" preparation gives the shipped model exactly the test accuracy recorded in
//! its manifest at export, and its degraded faces are a fixed draw, the same on every run.

use host::data::{ClassicalEnhancer, DataSelection, DatasetKind, PrepareConfig, load_splits};
use host::enhance::eval::EvalSet;
use host::eval::robustness::{Preparation, clean_faces, measure};
use host::export::TractRunner;

#[test]
fn clean_faces_score_the_exported_accuracy_and_degradations_are_a_fixed_draw() {
    let Some(data) = vigil_tests::data_dir("clean_faces_score_the_exported_accuracy_and_degradations_are_a_fixed_draw")
    else {
        return;
    };
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/vigil-int8.onnx");
    let (bytes, manifest) = artifacts::manifest::load_verified(&model).expect("the shipped model loads");
    let runner = TractRunner::new(&bytes, manifest.input_chw.map(|d| d as usize)).unwrap();
    let (clean_cache, trained_cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let clean = clean_faces(
        &manifest,
        vec![DatasetKind::Jaffe],
        data,
        clean_cache.path().to_path_buf(),
    )
    .unwrap();
    let splits = load_splits(&clean).expect("JAFFE prepares");
    let as_trained = load_splits(&PrepareConfig {
        data: DataSelection {
            preprocessing: manifest.preprocessing,
            cache_dir: trained_cache.path().to_path_buf(),
            ..clean.data.clone()
        },
        ..clean.clone()
    })
    .expect("JAFFE prepares");
    let pixels: Vec<Vec<u8>> = splits.test.iter().map(|s| s.pixels.clone()).collect();
    let set = EvalSet::new(&pixels, 42);
    assert_eq!(set.degraded, EvalSet::new(&pixels, 42).degraded, "the draw is fixed");
    assert_ne!(
        set.degraded,
        EvalSet::new(&pixels, 43).degraded,
        "another seed, another draw"
    );
    assert!(
        set.degraded.iter().zip(&set.clean).all(|(d, c)| d != c),
        "every face is degraded"
    );

    let classical = ClassicalEnhancer(manifest.preprocessing.enhancement);
    let preparation = Preparation {
        enhancer: &classical,
        preprocessing: manifest.preprocessing,
    };
    // The preparation from a clean crop is exactly the model's training preprocessing.
    assert_eq!(splits.test.len(), as_trained.test.len());
    for (crop, trained) in splits.test.iter().zip(&as_trained.test) {
        let expected: Vec<f32> = trained
            .pixels
            .iter()
            .map(|&p| preparation.preprocessing.normalization.apply(p))
            .collect();
        assert_eq!(preparation.input(&crop.pixels).unwrap(), expected, "{}", crop.source);
    }
    let rows = measure(&runner, preparation, &splits.test, &set, &[]).unwrap();
    assert_eq!(rows.len(), 1);
    let jaffe = &rows[0];
    assert_eq!(jaffe.dataset, DatasetKind::Jaffe);
    assert_eq!(jaffe.clean.total, splits.test.len());
    assert_eq!(jaffe.degraded.total, splits.test.len());
    let kinds: usize = jaffe.by_kind.iter().map(|t| t.total).sum();
    assert!(
        (jaffe.degraded.total..=2 * jaffe.degraded.total).contains(&kinds),
        "one or two kinds per face"
    );
    let exported = manifest
        .metrics
        .iter()
        .find(|m| m.name == format!("jaffe/{}/test/int8_accuracy", clean.data.protocol.name()))
        .expect("the manifest records JAFFE's int8 test accuracy")
        .value;
    let measured = jaffe.clean.right as f32 / jaffe.clean.total as f32;
    assert!(
        (measured - exported).abs() < 1e-4,
        "robustness measures {measured} on clean JAFFE test faces, the export recorded {exported}"
    );
    // Only the listed datasets are classified.
    assert!(
        measure(&runner, preparation, &splits.test, &set, &[DatasetKind::CkPlus])
            .unwrap()
            .is_empty()
    );
}
