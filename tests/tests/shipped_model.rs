//! CI gate for the model shipped in `models/`: its hash matches its manifest, and the int8
//! model, run through the edge's own tract classifier, still reaches the accuracy reported
//! in `models/REPORT.md` on the held-out test split it was evaluated on (rebuilt from the
//! manifest's datasets, protocol and seed). It never trains.

use std::path::Path;

use edge::inference::Classifier;
use edge::inference::tract::TractClassifier;
use host::data::{DatasetKind, PrepareConfig, SplitProtocol, load_splits};

const MODEL: &str = "models/vigil-int8.onnx";

/// Test accuracy floors, a little under the figures in models/REPORT.md.
const FLOORS: &[(&str, f64)] = &[("ckplus", 0.97), ("jaffe", 0.75)];

#[test]
fn shipped_int8_model_matches_its_manifest_and_keeps_its_accuracy() {
    let Some(data) = vigil_tests::data_dir("shipped_int8_model_matches_its_manifest_and_keeps_its_accuracy") else {
        return;
    };
    let model_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(MODEL);
    // load() checks the SHA-256, the input shape and the labels against the manifest.
    let mut classifier = TractClassifier::load(&model_path).expect("shipped model loads and matches its manifest");
    let manifest = classifier.manifest().clone();
    let cache = tempfile::tempdir().unwrap();
    let config = PrepareConfig {
        data_root: data,
        datasets: manifest
            .datasets
            .iter()
            .map(|d| d.parse::<DatasetKind>().unwrap())
            .collect(),
        protocol: manifest.split.parse::<SplitProtocol>().unwrap(),
        seed: manifest.seed,
        preprocessing: manifest.preprocessing,
        cache_dir: cache.path().to_path_buf(),
        ..PrepareConfig::default()
    };
    let splits = load_splits(&config).expect("test split rebuilds from the manifest");
    let norm = manifest.preprocessing.normalization;
    for &(dataset, floor) in FLOORS {
        let test: Vec<_> = splits.test.iter().filter(|s| s.dataset.name() == dataset).collect();
        assert!(!test.is_empty(), "no {dataset} test images");
        let correct = test
            .iter()
            .filter(|s| {
                let input: Vec<f32> = s.pixels.iter().map(|&p| p as f32 * norm.scale + norm.offset).collect();
                let probs = classifier.classify(&input).unwrap();
                let best = (0..probs.len()).fold(0, |b, i| if probs[i] > probs[b] { i } else { b });
                best == s.label.index()
            })
            .count();
        let accuracy = correct as f64 / test.len() as f64;
        eprintln!(
            "{dataset}: int8 test accuracy {:.2}% on {} images (floor {:.2}%)",
            100.0 * accuracy,
            test.len(),
            100.0 * floor
        );
        assert!(
            accuracy >= floor,
            "{dataset}: int8 accuracy {accuracy:.4} fell below {floor}"
        );
    }
}
