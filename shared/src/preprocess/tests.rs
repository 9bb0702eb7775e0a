use super::*;
use proptest::prelude::*;

fn gradient(w: u32, h: u32) -> GrayImage {
    let pixels = (0..w * h).map(|i| ((i % w) * 255 / w.max(1)) as u8).collect();
    GrayImage::from_raw(w, h, pixels).unwrap()
}

#[test]
fn integer_shrink_is_a_plain_average() {
    let img = GrayImage::from_raw(4, 2, vec![0, 10, 20, 30, 40, 50, 60, 70]).unwrap();
    let out = resize(&img, 2, 1);
    assert_eq!(out.pixels(), &[25, 45]);
}

#[test]
fn enlarging_is_bilinear_and_keeps_constants() {
    let img = GrayImage::filled(3, 3, 77);
    assert!(resize(&img, 48, 48).pixels().iter().all(|&p| p == 77));
    let ramp = GrayImage::from_raw(2, 1, vec![0, 100]).unwrap();
    assert_eq!(resize(&ramp, 4, 1).pixels(), &[0, 25, 75, 100]);
}

#[test]
fn crop_clamps_and_applies_margin() {
    let img = gradient(100, 80);
    let c = crop(&img, FaceBox::new(90, 70, 20, 20), 0.0).unwrap();
    assert_eq!((c.width(), c.height()), (10, 10));
    let c = crop(&img, FaceBox::new(40, 30, 20, 20), 0.25).unwrap();
    assert_eq!((c.width(), c.height()), (30, 30));
    assert_eq!(c.get(0, 0), img.get(35, 25));
    assert!(matches!(
        crop(&img, FaceBox::new(200, 0, 5, 5), 0.0),
        Err(PreprocessError::BoxOutside { .. })
    ));
}

#[test]
fn equalize_spreads_to_full_range() {
    let img = GrayImage::from_raw(4, 1, vec![100, 101, 102, 103]).unwrap();
    let eq = equalize_histogram(&img);
    assert_eq!(eq.pixels(), &[0, 85, 170, 255]);
    let flat = GrayImage::filled(5, 5, 9);
    assert_eq!(equalize_histogram(&flat), flat);
}

#[test]
fn clahe_raises_contrast_of_a_dim_image() {
    let img = GrayImage::from_raw(48, 48, (0..48 * 48).map(|i| 100 + (i % 48) as u8 / 4).collect()).unwrap();
    let out = clahe(&img, 2.0, 4);
    let spread = |g: &GrayImage| g.pixels().iter().max().unwrap() - g.pixels().iter().min().unwrap();
    assert!(spread(&out) > spread(&img), "{} vs {}", spread(&out), spread(&img));
    // The clip limit is what bounds the gain: a looser limit stretches further.
    let loose = clahe(&img, 40.0, 4);
    assert!(
        spread(&loose) > spread(&out) * 3,
        "{} vs {}",
        spread(&loose),
        spread(&out)
    );
    // A flat image stays flat: every tile maps the one value the same way.
    let flat = clahe(&GrayImage::filled(48, 48, 90), 2.0, 4);
    assert!(flat.pixels().iter().all(|&p| p == flat.pixels()[0]));
}

#[test]
fn a_recipe_that_scales_pixels_past_f32_is_refused() {
    let mut p = Preprocessing::default();
    assert!(p.validate().is_ok());
    // Finite scale and offset, but 255 * 2e36 is infinite: every face would be NaN logits.
    p.normalization = Normalization {
        scale: 2e36,
        offset: 0.0,
    };
    assert_eq!(p.validate().unwrap_err().key, "normalization");
    p.normalization = Normalization {
        scale: 1e36,
        offset: 0.0,
    };
    assert!(p.validate().is_ok());
}

#[test]
fn normalisation_maps_to_unit_range() {
    let p = Preprocessing::default();
    let face = GrayImage::from_raw(2, 1, vec![0, 255]).unwrap();
    assert_eq!(p.normalize(&face), [0.0, 1.0]);
    let mut out = [0.0; 3];
    assert!(p.normalize_into(&face, &mut out).is_err());
}

proptest! {
    #[test]
    fn preprocessing_never_panics(
        w in 1u32..160, h in 1u32..160,
        x in -300i32..300, y in -300i32..300, bw in 0u32..400, bh in 0u32..400,
        margin in -1.0f32..3.0, tiles in 0u32..10, clip in -1.0f32..50.0, size in 0u32..64,
    ) {
        let frame = gradient(w, h);
        let p = Preprocessing {
            size, margin,
            enhancement: Enhancement::Clahe { clip_limit: clip, tiles },
            ..Preprocessing::default()
        };
        match p.face(&frame, FaceBox::new(x, y, bw, bh)) {
            Ok(face) => {
                prop_assert_eq!((face.width(), face.height()), (size.max(1), size.max(1)));
                prop_assert_eq!(p.normalize(&face).len(), face.pixels().len());
            }
            Err(PreprocessError::BoxOutside { .. }) => {}
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    #[test]
    fn resize_never_panics(w in 1u32..100, h in 1u32..100, dw in 0u32..100, dh in 0u32..100) {
        let out = resize(&gradient(w, h), dw, dh);
        prop_assert_eq!((out.width(), out.height()), (dw.max(1), dh.max(1)));
    }
}
