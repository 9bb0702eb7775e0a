//! burn (host) and tract (edge) compute the same network: a model trained for a few steps on
//! real CK+ faces (so BatchNorm's running statistics are no longer the identity), exported to
//! fp32 ONNX with BatchNorm folded, gives the same logits in tract as the burn model in
//! inference mode.

use std::path::Path;

use host::export::{TractRunner, float_graph};
use host::train::{ImageSet, ScheduleKind, TrainConfig, Trainer};
use shared::arch::Architecture;

const CLASSES: [(&str, i64); 3] = [("anger", 0), ("happy", 3), ("surprise", 6)];

/// `n` CK+ faces (already 48x48 grey crops) spread over three classes, as network inputs
/// in 0..1, with their label indices.
fn ckplus_batch(data: &Path, n: usize) -> (Vec<f32>, Vec<i64>) {
    let mut files: Vec<_> = CLASSES
        .iter()
        .flat_map(|&(dir, label)| {
            let mut in_class: Vec<_> = std::fs::read_dir(data.join("ckplus").join(dir))
                .unwrap()
                .map(|e| (e.unwrap().path(), label))
                .collect();
            in_class.sort();
            in_class
        })
        .collect();
    files.sort();
    let picked: Vec<_> = files.iter().step_by(files.len() / n).take(n).collect();
    let mut inputs = Vec::with_capacity(n * 48 * 48);
    for (file, _) in &picked {
        let grey = image::open(file).unwrap().to_luma8();
        assert_eq!(grey.dimensions(), (48, 48), "{} is not a 48x48 crop", file.display());
        inputs.extend(grey.into_raw().into_iter().map(|p| f32::from(p) / 255.0));
    }
    (inputs, picked.iter().map(|(_, label)| *label).collect())
}

#[test]
fn burn_and_tract_fp32_logits_agree() {
    let Some(data) = vigil_tests::data_dir("burn_and_tract_fp32_logits_agree") else {
        return;
    };
    let arch = Architecture::paper(7);
    let out = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        batch_size: 12,
        schedule: ScheduleKind::Fixed,
        out_dir: out.path().to_path_buf(),
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(config, &arch, None, &ImageSet::default()).unwrap();
    let n = 12;
    let (inputs, labels) = ckplus_batch(&data, n);
    for _ in 0..8 {
        trainer.step(&inputs, &labels, 3e-3).unwrap();
    }
    let model = &trainer.model;
    let burn = model.logits(&inputs, n).unwrap();
    let net = model.export_weights().fold();
    let (graph, _) = float_graph::build(&net, float_graph::Exposed::Nothing);
    let tract = TractRunner::new(&graph, net.input_chw).unwrap();
    let mut worst = 0f32;
    let mut largest = 0f32;
    for (i, image) in inputs.chunks(48 * 48).enumerate() {
        let logits = tract.logits(image).unwrap();
        for (a, b) in logits.iter().zip(&burn[i * 7..(i + 1) * 7]) {
            worst = worst.max((a - b).abs());
            largest = largest.max(b.abs());
        }
    }
    eprintln!("burn vs tract fp32: max |logit diff| {worst:.2e} (largest |logit| {largest:.2}) over {n} CK+ images");
    assert!(
        largest > 1e-2,
        "logits are all near zero: the comparison would prove nothing"
    );
    assert!(worst < 1e-3, "logits differ by {worst}");
}
