//! Bad models and bad images give clear errors that name the file, never a panic: a model
//! truncated or swapped (hash mismatch), a manifest for another input shape or label set, a
//! missing manifest, bytes that are not ONNX at all, and images that do not decode among
//! good ones (those are still classified).

use std::path::{Path, PathBuf};

use edge::commands::classify::{ClassifyArgs, Crop, run_to};
use edge::inference::{self, InferenceError};
use sha2::{Digest, Sha256};

fn shipped() -> (PathBuf, serde_json::Value) {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/vigil-int8.onnx");
    let manifest = std::fs::read_to_string(model.with_extension("manifest.json")).unwrap();
    (model, serde_json::from_str(&manifest).unwrap())
}

/// Writes `bytes` as `dir/m.onnx` with `manifest` beside it; returns the model path.
fn install(dir: &Path, bytes: &[u8], manifest: &serde_json::Value) -> PathBuf {
    let model = dir.join("m.onnx");
    std::fs::write(&model, bytes).unwrap();
    std::fs::write(dir.join("m.manifest.json"), serde_json::to_string(manifest).unwrap()).unwrap();
    model
}

fn load_error(model: &Path) -> String {
    match inference::load(model) {
        Ok(_) => panic!("{} loaded", model.display()),
        Err(e @ (InferenceError::Load { .. } | InferenceError::Manifest(_))) => {
            let text = e.to_string();
            assert!(text.contains(&model.display().to_string()), "{text}");
            text
        }
        Err(e) => panic!("not a load error: {e}"),
    }
}

#[test]
fn bad_models_are_refused_with_the_reason() {
    let (shipped_model, manifest) = shipped();
    let bytes = std::fs::read(&shipped_model).unwrap();
    let tmp = tempfile::tempdir().unwrap();

    // The intact copy loads: the checks below fail for their own reason.
    assert!(inference::load(&install(tmp.path(), &bytes, &manifest)).is_ok());

    let truncated = install(tmp.path(), &bytes[..bytes.len() / 2], &manifest);
    assert!(load_error(&truncated).contains("does not match the manifest"));

    let mut other_shape = manifest.clone();
    other_shape["input_chw"] = serde_json::json!([3, 48, 48]);
    let model = install(tmp.path(), &bytes, &other_shape);
    assert!(load_error(&model).contains("manifest input [3, 48, 48]"));

    for bad in [serde_json::json!(0.0), serde_json::json!(-1.0)] {
        let mut cold = manifest.clone();
        cold["temperature"] = bad;
        let model = install(tmp.path(), &bytes, &cold);
        assert!(load_error(&model).contains("temperature"), "{}", load_error(&model));
    }

    let mut six_labels = manifest.clone();
    six_labels["labels"].as_array_mut().unwrap().pop();
    let model = install(tmp.path(), &bytes, &six_labels);
    assert!(load_error(&model).contains("labels"));

    // Not ONNX, with a manifest that vouches for exactly these bytes: tract refuses it.
    let garbage = b"this is not a protobuf model at all".repeat(10);
    let mut vouching = manifest.clone();
    vouching["sha256"] = serde_json::json!(hex::encode(Sha256::digest(&garbage)));
    let model = install(tmp.path(), &garbage, &vouching);
    assert!(load_error(&model).contains("not a usable ONNX model"));

    let lonely = tmp.path().join("lonely.onnx");
    std::fs::write(&lonely, &bytes).unwrap();
    assert!(load_error(&lonely).contains("cannot read its manifest"));
}

#[test]
fn undecodable_images_are_reported_and_the_rest_classified() {
    let tmp = tempfile::tempdir().unwrap();
    let corrupt = tmp.path().join("corrupt.png");
    std::fs::write(&corrupt, b"\x89PNG\r\n\x1a\n but then nothing sensible").unwrap();
    let missing = tmp.path().join("missing.png");
    // A real grey face-sized image: a smooth gradient, classified with --crop none.
    let good = tmp.path().join("gradient.png");
    image::GrayImage::from_fn(48, 48, |x, y| image::Luma([(x * 4 + y) as u8]))
        .save(&good)
        .unwrap();
    // No --model: the shipped models/vigil-int8.onnx, as `edge run` takes.
    let args = ClassifyArgs {
        model: None,
        images: vec![corrupt.clone(), good.clone(), missing.clone()],
        crop: Crop::None,
        cascade: None,
        enhancer: None,
    };
    let mut out = Vec::new();
    let err = run_to(&args, &mut out).expect_err("two images failed");
    assert!(err.to_string().contains("2 of 3"), "{err}");
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "one line per image, in order");
    for (line, file) in lines.iter().zip([&corrupt, &good, &missing]) {
        assert_eq!(line["file"], file.display().to_string());
    }
    assert!(
        lines[0]["error"].is_string() && lines[2]["error"].is_string(),
        "{lines:?}"
    );
    assert!(lines[1]["label"].is_string(), "{:?}", lines[1]);
    let total: f64 = lines[1]["probabilities"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 1e-3, "probabilities sum to {total}");
}
