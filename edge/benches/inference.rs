//! Batch-1 latency of the classifier on one thread: the shipped int8 model against its fp32
//! twin, both through tract exactly as the alert loop calls them (`Classifier::classify`:
//! input checks, one tract run, softmax).
//!
//! The fp32 model is not committed (it is 4x the size and the board does not need it): make it
//! with `cargo run --release -p host -- export --run <run> --out models --fp32`, or point
//! `VIGIL_FP32_MODEL` at one. Without it only int8 is measured and the bench says so.
//! `VIGIL_INT8_MODEL` overrides the int8 model. tract runs single-threaded; pin the process
//! to one core for stable figures:
//!
//!   taskset -c 0 cargo bench -p edge --bench inference

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use edge::inference::Classifier;
use edge::inference::tract::TractClassifier;
use shared::{INPUT_PIXELS, INPUT_SIZE};

fn model_path(env: &str, file: &str) -> PathBuf {
    std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../models").join(file))
}

/// A smooth synthetic face-sized input in 0..1 (latency does not depend on the pixels).
fn input() -> Vec<f32> {
    (0..INPUT_PIXELS)
        .map(|i| {
            let (x, y) = ((i % INPUT_SIZE) as f32, (i / INPUT_SIZE) as f32);
            0.5 + 0.4 * ((x * 0.21).sin() * (y * 0.17).cos())
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let input = input();
    let mut group = c.benchmark_group("classify_batch1");
    group.measurement_time(Duration::from_secs(10));
    for (kind, env, file) in [
        ("int8", "VIGIL_INT8_MODEL", "vigil-int8.onnx"),
        ("fp32", "VIGIL_FP32_MODEL", "vigil-fp32.onnx"),
    ] {
        let path = model_path(env, file);
        if !path.exists() {
            eprintln!(
                "SKIPPED {kind}: {} not found (export with --fp32, or set {env})",
                path.display()
            );
            continue;
        }
        let mut classifier = TractClassifier::load(&path).unwrap_or_else(|e| panic!("{kind}: {e}"));
        group.bench_function(kind, |b| b.iter(|| classifier.classify(&input).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
