//! The pure-Rust Haar detector against OpenCV: on all 213 JAFFE images, with OpenCV's stock
//! frontal-face cascade and `detectMultiScale(scaleFactor 1.1, minNeighbors 5, minSize 30x30)`,
//! our box must overlap OpenCV 4.x's (golden/jaffe_opencv_faces.csv) with IoU >= 0.8 on at
//! least 95% of the images. Palette TIFFs go through `artifacts::image`'s luma conversion, as
//! OpenCV's golden run converted every image to 8-bit luma.

use std::collections::BTreeMap;
use std::time::Instant;

use shared::FaceBox;
use shared::haar::{Cascade, DetectParams, largest};

const MIN_IOU: f32 = 0.8;
const MIN_AGREEMENT: f64 = 0.95;

fn golden(text: &str) -> BTreeMap<String, FaceBox> {
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.trim().split(',').collect();
            assert_eq!(f.len(), 5, "golden line {l:?}");
            let n = |i: usize| f[i].parse::<i64>().unwrap_or_else(|_| panic!("golden line {l:?}"));
            (
                f[0].to_string(),
                FaceBox::new(n(1) as i32, n(2) as i32, n(3) as u32, n(4) as u32),
            )
        })
        .collect()
}

#[test]
fn jaffe_boxes_agree_with_opencv() {
    let Some(data) = vigil_tests::data_dir("jaffe_boxes_agree_with_opencv") else {
        return;
    };
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let xml = std::fs::read_to_string(repo.join("models/haarcascade_frontalface_default.xml")).unwrap();
    let cascade = Cascade::from_opencv_xml(&xml).unwrap();
    let expected = golden(&std::fs::read_to_string(data.join("golden/jaffe_opencv_faces.csv")).unwrap());
    assert_eq!(expected.len(), 213, "golden CSV should list every JAFFE image");

    let params = DetectParams::default();
    let (mut agree, mut iou_sum, mut seconds) = (0usize, 0f64, 0f64);
    let mut misses = Vec::new();
    for (file, want) in &expected {
        let frame = artifacts::image::load(&data.join("jaffe").join(file)).unwrap();
        let start = Instant::now();
        let faces = cascade.detect(&frame, &params);
        seconds += start.elapsed().as_secs_f64();
        // OpenCV reported exactly one box per image; compare with ours that overlaps it most.
        let best = faces.iter().map(|f| f.iou(want)).fold(0f32, f32::max);
        iou_sum += best as f64;
        if best >= MIN_IOU {
            agree += 1;
        } else {
            misses.push(format!(
                "{file}: want {want:?}, got {faces:?} (largest {:?})",
                largest(&faces)
            ));
        }
    }
    let n = expected.len();
    let rate = agree as f64 / n as f64;
    println!(
        "JAFFE vs OpenCV: {agree}/{n} images agree (IoU >= {MIN_IOU}): {:.1}%; mean best IoU {:.4}; {:.1} ms per 256x256 image",
        rate * 100.0,
        iou_sum / n as f64,
        seconds * 1000.0 / n as f64
    );
    for m in &misses {
        println!("  disagree: {m}");
    }
    assert!(
        rate >= MIN_AGREEMENT,
        "only {:.1}% of images agree with OpenCV",
        rate * 100.0
    );
}
