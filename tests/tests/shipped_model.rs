//! CI gate for the models shipped in `models/`: each one's hash matches its manifest, and the
//! int8 model, run through the edge's own tract classifier (temperature included), still
//! reaches the accuracy reported in `models/REPORT.md` on the held-out test split it was
//! evaluated on (rebuilt from the manifest's datasets, protocol and seed). It never trains.
//!
//! * `vigil-int8.onnx`, the default of the edge: the in-the-wild model (FER+ Train with the
//!   subject-independent training parts of CK+ and JAFFE). Its FER+ figure is FER+ Valid under
//!   the majority protocol; it is also scored on FER2013 PublicTest with FER2013's original
//!   labels, a dataset it never trained on under that name (the same faces as FER+ Valid).
//! * `vigil-paper-int8.onnx`: CK+ + JAFFE on the paper's random split, for the paper's tables.

use std::path::Path;

use edge::inference::Classifier;
use edge::inference::tract::TractClassifier;
use host::data::{DataSelection, DatasetKind, PrepareConfig, Sample, SplitProtocol, load_splits};

/// A shipped model and the test-accuracy floors it must keep, a little under REPORT.md.
struct Gate {
    model: &'static str,
    floors: &'static [(DatasetKind, f64)],
    /// FER2013 PublicTest (original labels) floor, for models that should work in the wild.
    fer2013_floor: Option<f64>,
}

const GATES: &[Gate] = &[
    Gate {
        model: "models/vigil-int8.onnx",
        floors: &[
            (DatasetKind::FerPlus, 0.82),
            (DatasetKind::CkPlus, 0.93),
            // 43 faces: one face is 2.3 points.
            (DatasetKind::Jaffe, 0.48),
        ],
        fer2013_floor: Some(0.53),
    },
    Gate {
        model: "models/vigil-paper-int8.onnx",
        floors: &[(DatasetKind::CkPlus, 0.97), (DatasetKind::Jaffe, 0.75)],
        fer2013_floor: None,
    },
];

/// Top-1 accuracy of the model at `path` on `test`, through the edge's classifier. tract runs
/// one face on one core, so the faces are split over the machine's cores, one classifier each.
fn accuracy(path: &Path, test: &[&Sample]) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let part = test.len().div_ceil(cores).max(1);
    let correct: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = test
            .chunks(part)
            .map(|faces| {
                scope.spawn(move || {
                    let mut classifier = TractClassifier::load(path).expect("shipped model loads");
                    let norm = classifier.manifest().preprocessing.normalization;
                    faces
                        .iter()
                        .filter(|s| {
                            let input: Vec<f32> = s.pixels.iter().map(|&p| norm.apply(p)).collect();
                            let probs = classifier.classify(&input).unwrap();
                            let best = (0..probs.len()).fold(0, |b, i| if probs[i] > probs[b] { i } else { b });
                            best == s.label.index()
                        })
                        .count()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a classifying thread panicked"))
            .sum()
    });
    correct as f64 / test.len().max(1) as f64
}

fn check(gate: &Gate, data: &Path) {
    let model_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(gate.model);
    // load() checks the SHA-256, the input shape, the labels and the temperature.
    let manifest = TractClassifier::load(&model_path)
        .expect("shipped model loads and matches its manifest")
        .manifest()
        .clone();
    let cache = tempfile::tempdir().unwrap();
    let config = PrepareConfig {
        data: DataSelection {
            data_root: data.to_path_buf(),
            datasets: manifest.datasets.clone(),
            protocol: manifest.split,
            seed: manifest.seed,
            preprocessing: manifest.preprocessing,
            cache_dir: cache.path().to_path_buf(),
            ..DataSelection::default()
        },
        ..PrepareConfig::default()
    };
    let splits = load_splits(&config).expect("test split rebuilds from the manifest");
    let mut checks: Vec<(String, Vec<&Sample>, f64)> = gate
        .floors
        .iter()
        .map(|&(dataset, floor)| {
            let test = splits.test.iter().filter(|s| s.dataset == dataset).collect();
            (format!("{dataset} test"), test, floor)
        })
        .collect();
    let fer2013;
    if let Some(floor) = gate.fer2013_floor {
        // FER2013's own split under the subject protocol: its test part is PublicTest.
        fer2013 = load_splits(&PrepareConfig {
            data: DataSelection {
                datasets: vec![DatasetKind::Fer2013],
                protocol: SplitProtocol::Subject,
                ..config.data.clone()
            },
            ..config.clone()
        })
        .expect("FER2013 PublicTest prepares");
        checks.push(("fer2013 PublicTest".into(), fer2013.test.iter().collect(), floor));
    }
    for (name, test, floor) in checks {
        assert!(!test.is_empty(), "{}: no {name} images", gate.model);
        let acc = accuracy(&model_path, &test);
        eprintln!(
            "{}: {name}: int8 accuracy {:.2}% on {} images (floor {:.2}%)",
            gate.model,
            100.0 * acc,
            test.len(),
            100.0 * floor
        );
        assert!(
            acc >= floor,
            "{}: {name}: int8 accuracy {acc:.4} fell below {floor}",
            gate.model
        );
    }
}

#[test]
fn shipped_int8_models_match_their_manifests_and_keep_their_accuracy() {
    let Some(data) = vigil_tests::data_dir("shipped_int8_models_match_their_manifests_and_keep_their_accuracy") else {
        return;
    };
    for gate in GATES {
        check(gate, &data);
    }
}
