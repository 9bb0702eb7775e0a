//! Face detection on a 640x480 frame (the dashboard camera's size) with OpenCV's frontal-face
//! cascade and the default parameters (scale 1.1, 5 neighbours, 30 px minimum), one core.
//!
//! Frames:
//! * `textured` — synthetic smooth random texture with a drawn face: no flat areas, so nearly
//!   every window pays for normalisation and the first stages; needs no data;
//! * `jaffe_canvas` — a JAFFE face (256x256) pasted into a mid-grey 640x480 frame;
//! * `jaffe_scaled` — a JAFFE image stretched to 640x480 (face about 370 px tall).
//!
//! The JAFFE frames are benchmarked only when the research data is present (`VIGIL_DATA` or
//! `../shared/data` beside the checkout); it is never copied into the repository.

use std::path::PathBuf;

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use shared::GrayImage;
use shared::haar::{Cascade, DetectParams};

const W: u32 = 640;
const H: u32 = 480;

fn cascade() -> Cascade {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/haarcascade_frontalface_default.xml");
    Cascade::from_opencv_xml(&std::fs::read_to_string(path).expect("models/ cascade")).expect("valid cascade")
}

/// Smooth value noise (bilinear blend of a coarse random grid) plus fine grain and a drawn
/// face, deterministic.
fn textured() -> GrayImage {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let cell = 16usize;
    let (gw, gh) = (W as usize / cell + 2, H as usize / cell + 2);
    let grid: Vec<f32> = (0..gw * gh).map(|_| (next() % 160) as f32 + 40.0).collect();
    let mut px = vec![0u8; (W * H) as usize];
    for y in 0..H as usize {
        for x in 0..W as usize {
            let (gx, gy) = (x / cell, y / cell);
            let (fx, fy) = ((x % cell) as f32 / cell as f32, (y % cell) as f32 / cell as f32);
            let g = |i: usize, j: usize| grid[j * gw + i];
            let v = g(gx, gy) * (1.0 - fx) * (1.0 - fy)
                + g(gx + 1, gy) * fx * (1.0 - fy)
                + g(gx, gy + 1) * (1.0 - fx) * fy
                + g(gx + 1, gy + 1) * fx * fy;
            px[y * W as usize + x] = (v + (next() % 9) as f32 - 4.0).clamp(0.0, 255.0) as u8;
        }
    }
    // A face: light oval, dark eyes and mouth.
    let (cx, cy, r) = (320.0f32, 240.0f32, 90.0f32);
    let inside =
        |x: f32, y: f32, ex: f32, ey: f32, rx: f32, ry: f32| ((x - ex) / rx).powi(2) + ((y - ey) / ry).powi(2) <= 1.0;
    for y in 0..H as usize {
        for x in 0..W as usize {
            let (xf, yf) = (x as f32, y as f32);
            if !inside(xf, yf, cx, cy, r * 0.8, r) {
                continue;
            }
            let mut v = 190u8;
            for side in [-1.0, 1.0] {
                if inside(xf, yf, cx + side * r * 0.35, cy - r * 0.25, r * 0.16, r * 0.08) {
                    v = 40;
                }
            }
            if inside(xf, yf, cx, cy + r * 0.5, r * 0.3, r * 0.07) {
                v = 60;
            }
            px[y * W as usize + x] = v;
        }
    }
    GrayImage::from_raw(W, H, px).unwrap()
}

fn jaffe() -> Option<GrayImage> {
    let dir = artifacts::data::for_test("haar bench")?;
    let img = image::open(dir.join("jaffe/KA.HA1.29.tiff")).ok()?.to_luma8();
    GrayImage::from_raw(img.width(), img.height(), img.into_raw()).ok()
}

fn bench(c: &mut Criterion) {
    let cascade = cascade();
    let params = DetectParams::default();
    let mut frames = vec![("textured", textured())];
    if let Some(face) = jaffe() {
        let mut canvas = vec![128u8; (W * H) as usize];
        let (ox, oy) = ((W - face.width()) as usize / 2, (H - face.height()) as usize / 2);
        for y in 0..face.height() {
            let row = face.row(y);
            let at = (oy + y as usize) * W as usize + ox;
            canvas[at..at + row.len()].copy_from_slice(row);
        }
        frames.push(("jaffe_canvas", GrayImage::from_raw(W, H, canvas).unwrap()));
        frames.push(("jaffe_scaled", shared::haar::resize::resize_linear_exact(&face, W, H)));
    } else {
        eprintln!("JAFFE not found: benchmarking the synthetic frame only");
    }
    let mut group = c.benchmark_group("haar_detect_640x480");
    for (name, frame) in &frames {
        eprintln!("{name}: {} faces", cascade.detect(frame, &params).len());
        group.bench_function(*name, |b| {
            b.iter(|| cascade.detect(black_box(frame), black_box(&params)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
