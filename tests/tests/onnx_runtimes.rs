//! The exported ONNX graphs are standard: onnx's full checker accepts them and onnxruntime
//! computes the same logits as tract, for fp32 and int8, one view or mirrored, face by face
//! and in one batch, on real CK+ faces.
//!
//! The weights are random (seeded): this checks the *format and operator semantics* of the
//! exporter independently of training. Needs python3 with `onnx` and `onnxruntime`
//! (`.ci/run` installs them); without them the test is skipped, except under CI=true.

use std::path::Path;
use std::process::Command;

use host::export::{Calibration, FoldedNetwork, Views, WeightScales, build_candidates, build_graphs, run_tract};
use shared::arch::Architecture;

fn ckplus_inputs(data: &Path, n: usize) -> Vec<Vec<f32>> {
    let dir = data.join("ckplus/happy");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("ckplus/happy")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .take(n)
        .map(|f| {
            image::open(f)
                .expect("decodes")
                .to_luma8()
                .into_raw()
                .iter()
                .map(|&p| p as f32 / 255.0)
                .collect()
        })
        .collect()
}

fn python_has_onnxruntime() -> bool {
    Command::new("python3")
        .args(["-c", "import onnx, onnxruntime"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn onnxruntime_agrees_with_tract_on_exported_graphs() {
    let Some(data) = vigil_tests::data_dir("onnxruntime_agrees_with_tract_on_exported_graphs") else {
        return;
    };
    if !python_has_onnxruntime() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must install onnx and onnxruntime"
        );
        eprintln!("SKIPPED onnxruntime_agrees_with_tract_on_exported_graphs: python3 lacks onnx/onnxruntime");
        return;
    }
    let net = FoldedNetwork::random(&Architecture::paper(7), 3).unwrap();
    let inputs = ckplus_inputs(&data, 40);
    let (calibration, checks) = inputs.split_at(32);
    let (fp32, int8) = build_graphs(
        &net,
        calibration,
        Calibration::MinMax,
        WeightScales::PerChannel,
        (0.0, 1.0),
    )
    .unwrap();
    // The per-tensor form writes a scalar w_scale: check that other runtimes read it too.
    let (_, int8_per_tensor) = build_graphs(
        &net,
        calibration,
        Calibration::MinMax,
        WeightScales::PerTensor,
        (0.0, 1.0),
    )
    .unwrap();
    // The mirrored classifiers (`host export --views mirrored`): ONNX Runtime must keep one
    // row per face in a batch of several (onnx_check.py also runs every model on the whole
    // batch at once).
    let (fp32_mirrored, int8_mirrored) = build_candidates(
        &net,
        calibration,
        &[calibration.len()],
        Calibration::MinMax,
        WeightScales::PerChannel,
        (0.0, 1.0),
        Views::Mirrored,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // int8 runtimes may round a requantisation differently by one step, and a flipped step
    // propagates: allow a few steps of the output quantisation (the calibrated logit range / 255).
    let calibrated: Vec<f32> = calibration
        .iter()
        .flat_map(|x| run_tract(&fp32, [1, 48, 48], x).unwrap())
        .collect();
    let (lo, hi) = calibrated
        .iter()
        .fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let output_step = (hi - lo) / 255.0;
    let mut models = Vec::new();
    for (name, graph, tolerance) in [
        ("fp32", &fp32, 1e-4),
        ("int8", &int8, 4.0 * output_step),
        ("int8-per-tensor", &int8_per_tensor, 4.0 * output_step),
        ("fp32-mirrored", &fp32_mirrored, 1e-4),
        ("int8-mirrored", &int8_mirrored[0], 4.0 * output_step),
    ] {
        let path = dir.path().join(format!("{name}.onnx"));
        std::fs::write(&path, graph).unwrap();
        let logits: Vec<Vec<f32>> = checks
            .iter()
            .map(|x| run_tract(graph, [1, 48, 48], x).unwrap())
            .collect();
        models.push(serde_json::json!({
            "path": path, "inputs": checks, "logits": logits, "tolerance": tolerance,
        }));
    }
    let cases = dir.path().join("cases.json");
    std::fs::write(&cases, serde_json::json!({ "models": models }).to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/onnx_check.py");
    let out = Command::new("python3").arg(script).arg(&cases).output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{report}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "onnx_check.py failed:\n{report}");
    assert_eq!(report.matches(" ok\n").count(), 5, "{report}");
}
