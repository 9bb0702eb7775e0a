//! The whole alert loop on 640x480 frames, one frame per iteration, on one core: Haar
//! detection (every frame, and every 3rd with tracking), preprocessing, classification,
//! smoothing and policy, outputs to an in-memory serial line.
//!
//! Frames are real faces: JAFFE images (from `VIGIL_DATA`, default `../shared/data`, never
//! copied into the repository) pasted into a 640x480 textured background. The classifier is
//! the shipped int8 model (`models/vigil-int8.onnx`), or the ONNX model (with its manifest)
//! that `VIGIL_BENCH_MODEL` names.
//!
//! Criterion reports frames/s (throughput in elements); after each benchmark the loop's own
//! accounting prints the split between detection, preprocessing and inference.
//!
//!   taskset -c 0 cargo bench -p edge --bench replay

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use edge::detect::haar::HaarDetector;
use edge::inference::Classifier;
use edge::monitor::{Monitor, MonitorConfig};
use edge::output::{Sink, WireSink};
use edge::source::Frame;
use shared::GrayImage;
use shared::policy::PolicyConfig;
use shared::preprocess::Preprocessing;

const W: u32 = 640;
const H: u32 = 480;

fn data_dir() -> Option<PathBuf> {
    artifacts::data::for_test("replay bench")
}

/// Up to `n` JAFFE images, each pasted at a varying place into a 640x480 frame.
fn frames(jaffe: &Path, n: usize) -> Vec<Frame> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(jaffe).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut out = Vec::new();
    for (i, path) in files.iter().enumerate() {
        let Ok(face) = artifacts::image::load(path) else {
            continue;
        };
        let mut pixels: Vec<u8> = (0..W * H)
            .map(|p| (((p % W) / 7 + (p / W) / 5) % 64 + 64) as u8)
            .collect();
        let (ox, oy) = (150 + (i as u32 * 37) % 200, 80 + (i as u32 * 23) % 120);
        for y in 0..face.height().min(H - oy) {
            for x in 0..face.width().min(W - ox) {
                pixels[((oy + y) * W + ox + x) as usize] = face.get(x, y);
            }
        }
        let image = GrayImage::from_raw(W, H, pixels).unwrap();
        out.push(Frame { image, timestamp_ms: 0 });
        if out.len() == n {
            break;
        }
    }
    out
}

/// The shipped int8 model, or the ONNX model named by `VIGIL_BENCH_MODEL` (with its manifest).
fn classifier() -> (Box<dyn Classifier>, String) {
    let model = std::env::var_os("VIGIL_BENCH_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/vigil-int8.onnx"));
    let c = edge::inference::load(&model).unwrap_or_else(|e| panic!("bench model: {e}"));
    (c, model.display().to_string())
}

fn bench(c: &mut Criterion) {
    let Some(data) = data_dir() else {
        return;
    };
    let frames = frames(&data.join("jaffe"), 32);
    assert!(!frames.is_empty(), "no decodable JAFFE images");
    let cascade = data.join("haarcascades/haarcascade_frontalface_default.xml");
    let mut group = c.benchmark_group("alert_loop_640x480");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(10));
    for detect_every in [1u32, 3] {
        let (classifier, name) = classifier();
        let config = MonitorConfig {
            preprocessing: Preprocessing::default(),
            policy: PolicyConfig::default(),
            heartbeat_ms: 5000,
            detect_every,
            smooth_box: edge::config::DEFAULT_SMOOTH_BOX,
            frame_size: Some((W, H)),
        };
        let sinks: Vec<Box<dyn Sink>> = vec![Box::new(WireSink::new(std::io::sink(), 1))];
        let detector = HaarDetector::load(&cascade, edge::config::DetectionConfig::default().params()).unwrap();
        let mut monitor = Monitor::new(config, detector, classifier, sinks).unwrap();
        let mut i = 0u64;
        group.bench_function(format!("detect_every_{detect_every}"), |b| {
            b.iter(|| {
                let mut frame = frames[(i as usize / 10) % frames.len()].clone();
                frame.timestamp_ms = i * 33;
                i += 1;
                monitor.process(&frame)
            })
        });
        eprintln!("detect_every {detect_every}, {name}:\n{}", monitor.summary());
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
