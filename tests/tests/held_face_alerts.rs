//! `host alerts` counts the alerts the edge would raise: for each JAFFE test face of the
//! shipped model, the edge's own classifier (tract, temperature included) must give the scores
//! `host alerts` used, the face is held for ten seconds through the policy itself, and the
//! alerts it raises must be exactly those `host alerts` counts for the face's class; its plot
//! is written.

use edge::inference::Classifier;
use edge::inference::tract::TractClassifier;
use host::commands::alerts::{AlertsArgs, measure};
use host::commands::held_out::HeldOutArgs;
use host::data::{DataSelection, DatasetKind, PrepareConfig, SplitName, load_splits};
use shared::policy::{EMOTION_ALERTS, Observation, Policy, PolicyConfig};
use shared::wire::{AlertPhase, EmotionScores};
use shared::{FaceBox, NUM_CLASSES};

#[test]
fn host_alerts_counts_what_the_edge_policy_raises_on_held_faces() {
    let Some(data) = vigil_tests::data_dir("host_alerts_counts_what_the_edge_policy_raises_on_held_faces") else {
        return;
    };
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/vigil-int8.onnx");
    let (cache, plots) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = AlertsArgs {
        held_out: HeldOutArgs {
            model: Some(model.clone()),
            data: Some(data.clone()),
            cache: cache.path().join("clean"),
            cache_only: false,
            split: SplitName::Test,
        },
        only: vec![DatasetKind::Jaffe],
        plots: Some(plots.path().to_path_buf()),
    };
    let measured = measure(&args).expect("host alerts runs").datasets;
    assert_eq!(measured.len(), 1);
    let jaffe = &measured[0];
    assert!(jaffe.plot.as_ref().is_some_and(|p| p.exists()), "{:?}", jaffe.plot);

    // The same faces, prepared as the model was trained, through the edge.
    let mut classifier = TractClassifier::load(&model).unwrap();
    let manifest = classifier.manifest().clone();
    let faces = load_splits(&PrepareConfig {
        data: DataSelection {
            data_root: data,
            datasets: vec![DatasetKind::Jaffe],
            protocol: manifest.split,
            seed: manifest.seed,
            preprocessing: manifest.preprocessing,
            cache_dir: cache.path().join("trained"),
            ..DataSelection::default()
        },
        ..PrepareConfig::default()
    })
    .unwrap()
    .test;
    assert_eq!(faces.len(), jaffe.faces);
    let mut raised = [[0usize; NUM_CLASSES]; EMOTION_ALERTS.len()];
    let face = FaceBox {
        x: 0,
        y: 0,
        w: 48,
        h: 48,
    };
    for (sample, host_scores) in faces.iter().zip(&jaffe.scores) {
        let norm = manifest.preprocessing.normalization;
        let input: Vec<f32> = sample.pixels.iter().map(|&p| norm.apply(p)).collect();
        let scores = EmotionScores(classifier.classify(&input).unwrap());
        let gap = scores
            .0
            .iter()
            .zip(host_scores)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(gap < 1e-5, "edge {scores:?} vs host alerts {host_scores:?}");
        let mut policy = Policy::new(PolicyConfig::default()).unwrap();
        for t in (0..10_000).step_by(100) {
            for event in policy.observe(t, Observation::Face { scores, face }) {
                if event.phase == AlertPhase::Raised {
                    let k = EMOTION_ALERTS.iter().position(|&k| k == event.kind).unwrap();
                    raised[k][sample.label.index()] += 1;
                }
            }
        }
    }
    let counted: Vec<[usize; NUM_CLASSES]> = jaffe.rates.iter().map(|r| r.raised).collect();
    assert_eq!(
        counted, raised,
        "host alerts against the edge's policy, by alert and class"
    );
    assert!(
        raised.iter().flatten().sum::<usize>() > 0,
        "some JAFFE test face raises an alert"
    );
}
