use super::*;
use crate::haar::cascade::tests::tiny;

#[test]
fn pyramid_follows_opencv_rounding() {
    let c = tiny(); // 4x4 window
    let p = DetectParams {
        scale_factor: 1.5,
        min_neighbors: 0,
        min_size: 5,
        max_size: None,
    };
    let lv = levels(&c, 20, 10, &p).unwrap();
    // Windows 4, 6, 9, 13.5->14: 4 is under min_size; 14 exceeds the height 10.
    let got: Vec<_> = lv.iter().map(|l| (l.scale, l.width, l.height, l.step)).collect();
    assert_eq!(got, vec![(1.5, 13, 7, 2), (2.25, 9, 4, 1)]);
    let capped = levels(&c, 20, 10, &DetectParams { max_size: Some(7), ..p }).unwrap();
    assert_eq!(capped.len(), 1);
    assert!(levels(&c, 20, 10, &DetectParams { scale_factor: 1.0, ..p }).is_err());
    assert!(
        levels(
            &c,
            20,
            10,
            &DetectParams {
                scale_factor: 1.000_001,
                ..p
            }
        )
        .is_err()
    );
    assert_eq!(as_decimal_f64(1.1), 1.1f64);
}

#[test]
fn tiny_cascade_fires_on_a_bright_left_half() {
    // Left half bright, right half dark: the feature (left - right) is strongly positive.
    let img = |f: fn(u32) -> u8| GrayImage::from_raw(4, 4, (0..16).map(f).collect()).unwrap();
    // Scale 1.5 leaves a single level (window 4; the next, 6, exceeds the image).
    let p = DetectParams {
        scale_factor: 1.5,
        min_neighbors: 0,
        min_size: 0,
        max_size: None,
    };
    assert_eq!(
        c_hits(&img(|i| if i % 4 < 2 { 200 } else { 10 }), &p),
        vec![FaceBox::new(0, 0, 4, 4)]
    );
    // Mirrored: the feature is negative, the stump gives -1, the stage rejects.
    assert!(c_hits(&img(|i| if i % 4 < 2 { 10 } else { 200 }), &p).is_empty());
    // A flat window is skipped before any stage runs.
    assert!(c_hits(&GrayImage::filled(4, 4, 90), &p).is_empty());
    // A 3-pixel image cannot hold the 4-pixel window.
    assert!(c_hits(&GrayImage::filled(3, 3, 90), &p).is_empty());
}

fn c_hits(img: &GrayImage, p: &DetectParams) -> Vec<FaceBox> {
    tiny().detect(img, p)
}

#[test]
fn invalid_params_give_no_faces_or_an_error() {
    let img = GrayImage::filled(50, 50, 3);
    let p = DetectParams {
        scale_factor: 0.9,
        ..DetectParams::default()
    };
    assert!(tiny().detect(&img, &p).is_empty());
    assert!(matches!(tiny().try_detect(&img, &p), Err(HaarError::Params(_))));
}
