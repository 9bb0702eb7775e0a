//! `host train` then `host export`, as the command line runs them, on real JAFFE faces: a
//! one-epoch run exports int8 with a manifest, several calibration counts are compared on
//! validation and one of them is recorded, a count above the training faces uses them all,
//! and a count of zero is refused before anything is written.

use std::path::Path;

use clap::Parser;
use edge::inference::Classifier;
use shared::wire::Quantization;

#[derive(Parser)]
struct Train {
    #[command(flatten)]
    args: host::commands::train::TrainArgs,
}

#[derive(Parser)]
struct Export {
    #[command(flatten)]
    args: host::commands::export::ExportArgs,
}

fn calibration_images(model: &Path) -> u32 {
    let (_, manifest) = artifacts::manifest::load_verified(model).unwrap();
    match manifest.quantization {
        Quantization::Int8 { calibration_images, .. } => calibration_images,
        other => panic!("{} is not int8: {other:?}", model.display()),
    }
}

#[test]
fn a_trained_run_exports_the_calibration_count_chosen_on_validation() {
    let Some(data) = vigil_tests::data_dir("a_trained_run_exports_the_calibration_count_chosen_on_validation") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (run, cache, models) = (
        tmp.path().join("run"),
        tmp.path().join("cache"),
        tmp.path().join("models"),
    );
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let train = Train::parse_from([
        "train",
        "--data",
        &path(&data),
        "--dataset",
        "jaffe",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--max-train",
        "48",
        "--cache",
        &path(&cache),
        "--out",
        &path(&run),
    ]);
    host::commands::train::run(&train.args).unwrap();

    let export = |counts: &str| {
        let e = Export::parse_from([
            "export",
            "--run",
            &path(&run),
            "--out",
            &path(&models),
            "--calibration-images",
            counts,
            "--force",
        ]);
        host::commands::export::run(&e.args)
    };
    let model = models.join("vigil-int8.onnx");

    export("4,16").unwrap();
    let chosen = calibration_images(&model);
    assert!([4, 16].contains(&chosen), "calibrated on {chosen} images");
    // The written model runs as the edge runs it.
    let mut classifier = edge::inference::load(&model).unwrap();
    let probs = classifier.classify(&[0.5; shared::INPUT_PIXELS]).unwrap();
    edge::inference::check_probabilities(&probs).unwrap();

    // More than the training split holds: all of its original faces (JAFFE's paper split
    // trains on 154).
    export("100000").unwrap();
    let all = calibration_images(&model);
    assert!((100..1000).contains(&all), "calibrated on {all} images");

    std::fs::remove_file(&model).unwrap();
    let err = export("0").unwrap_err();
    assert!(format!("{err:#}").contains("--calibration-images"), "{err:#}");
    assert!(!model.exists(), "a refused export wrote {}", model.display());
}
