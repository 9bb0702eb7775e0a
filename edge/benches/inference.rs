//! Batch-1 latency of the classifier on one thread: the shipped int8 model against its fp32
//! twin, both through tract exactly as the alert loop calls them (`Classifier::classify`:
//! input checks, one tract run, softmax); and the learned face enhancer
//! (`models/vigil-enhancer.onnx`, or `VIGIL_ENHANCER_MODEL`) as the loop runs it before the
//! classifier (`Enhancer::enhance` on a 48x48 face), with the peak heap each call takes.
//!
//! The fp32 model is not committed (it is 4x the size and the board does not need it): make it
//! with `cargo run --release -p host -- export --run <run> --out models --fp32`, or point
//! `VIGIL_FP32_MODEL` at one. Without it only int8 is measured and the bench says so.
//! `VIGIL_INT8_MODEL` overrides the int8 model. tract runs single-threaded; pin the process
//! to one core for stable figures:
//!
//!   taskset -c 0 cargo bench -p edge --bench inference

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use edge::inference::Classifier;
use edge::inference::tract::TractClassifier;
use shared::{GrayImage, INPUT_PIXELS, INPUT_SIZE};

/// The system allocator, keeping the live heap and its peak so a bench can report the most
/// memory one call holds at once.
struct PeakCounting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; the counters only observe.
unsafe impl GlobalAlloc for PeakCounting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: PeakCounting = PeakCounting;

/// Heap bytes `f` holds at its peak beyond what was live before it.
fn peak_heap(f: impl FnOnce()) -> usize {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    f();
    PEAK.load(Ordering::Relaxed) - before
}

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
        let peak = peak_heap(|| {
            classifier.classify(&input).unwrap();
        });
        eprintln!(
            "{kind}: peak heap during one classification {:.1} KiB",
            peak as f64 / 1024.0
        );
        group.bench_function(kind, |b| b.iter(|| classifier.classify(&input).unwrap()));
    }
    group.finish();

    let path = model_path("VIGIL_ENHANCER_MODEL", "vigil-enhancer.onnx");
    if !path.exists() {
        eprintln!(
            "SKIPPED enhancer: {} not found (host export --enhancer, or set VIGIL_ENHANCER_MODEL)",
            path.display()
        );
        return;
    }
    let enhancer = artifacts::enhancer::Enhancer::load(&path).unwrap_or_else(|e| panic!("enhancer: {e}"));
    let pixels = input.iter().map(|&v| (v * 255.0) as u8).collect();
    let face = GrayImage::from_raw(INPUT_SIZE as u32, INPUT_SIZE as u32, pixels).unwrap();
    let peak = peak_heap(|| {
        enhancer.enhance(&face).unwrap();
    });
    eprintln!("enhancer: peak heap during one face {:.1} KiB", peak as f64 / 1024.0);
    let mut group = c.benchmark_group("enhance_batch1");
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("fp32", |b| b.iter(|| enhancer.enhance(&face).unwrap()));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
