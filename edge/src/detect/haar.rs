//! The Viola-Jones detector of `shared::haar` behind [`FaceDetector`], loaded from an OpenCV
//! XML cascade or vigil's postcard form.
//!
//! Two cheap ways to spend less of the frame budget on detection, both driven by where the
//! driver is: faces smaller than `min_size` are never searched for (the smallest scales cost
//! the most windows), and a re-detection near the last face searches only a region around it
//! at sizes close to its own.

use std::path::Path;

use artifacts::cascade::CascadeFileError;
use shared::haar::{Cascade, DetectParams, HaarError};
use shared::preprocess::{crop, expand_and_clamp};
use shared::{FaceBox, GrayImage};

use super::FaceDetector;

/// How far around the last face a re-detection looks, as a fraction of its size on each side.
pub const NEAR_MARGIN: f32 = 0.5;
/// Sizes a re-detection accepts, relative to the last face's width.
pub const NEAR_SIZE_RANGE: (f32, f32) = (0.7, 1.5);

/// A detector that cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    /// The detection parameters are invalid.
    #[error("detection parameters: {0}")]
    Params(#[source] HaarError),
    /// The cascade file cannot be used.
    #[error(transparent)]
    Cascade(#[from] CascadeFileError),
}

/// A Haar cascade with its detection parameters.
pub struct HaarDetector {
    cascade: Cascade,
    params: DetectParams,
}

impl HaarDetector {
    /// Wraps a cascade.
    pub fn new(cascade: Cascade, params: DetectParams) -> Self {
        HaarDetector { cascade, params }
    }

    /// Loads a cascade file ([`artifacts::cascade::load`]) to run with `params`.
    pub fn load(path: &Path, params: DetectParams) -> Result<Self, DetectorError> {
        params.validate().map_err(DetectorError::Params)?;
        let file = artifacts::cascade::load(path)?;
        tracing::debug!(cascade = %path.display(), sha256 = %file.sha256, "face cascade loaded");
        Ok(HaarDetector::new(file.cascade, params))
    }
}

impl FaceDetector for HaarDetector {
    fn detect(&mut self, frame: &GrayImage) -> Vec<FaceBox> {
        self.cascade.detect(frame, &self.params)
    }

    fn detect_near(&mut self, frame: &GrayImage, last: FaceBox) -> Vec<FaceBox> {
        let Some(region) = expand_and_clamp(last, NEAR_MARGIN, frame.width(), frame.height()) else {
            return self.detect(frame);
        };
        let Ok(patch) = crop(frame, region, 0.0) else {
            return self.detect(frame);
        };
        let side = last.w.max(1) as f32;
        let params = DetectParams {
            min_size: ((side * NEAR_SIZE_RANGE.0) as u32).max(self.params.min_size),
            max_size: Some((side * NEAR_SIZE_RANGE.1) as u32),
            ..self.params
        };
        self.cascade
            .detect(&patch, &params)
            .into_iter()
            .map(|b| FaceBox::new(b.x + region.x, b.y + region.y, b.w, b.h))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jaffe_frame() -> Option<GrayImage> {
        let image = artifacts::data::for_test("near-detection")?.join("jaffe/KA.AN1.39.tiff");
        // Pasted off-centre into a bigger frame, so the region search really is a sub-image.
        let face = artifacts::image::load(&image).unwrap();
        let (w, h) = (480u32, 360u32);
        let mut pixels = vec![90u8; (w * h) as usize];
        for y in 0..face.height() {
            for x in 0..face.width() {
                pixels[((y + 60) * w + x + 180) as usize] = face.get(x, y);
            }
        }
        Some(GrayImage::from_raw(w, h, pixels).unwrap())
    }

    #[test]
    fn near_detection_finds_the_same_face_as_a_full_search() {
        let Some(frame) = jaffe_frame() else { return };
        let cascade = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/haarcascade_frontalface_default.xml");
        let mut detector = HaarDetector::load(&cascade, DetectParams::default()).unwrap();
        let full = shared::haar::largest(&detector.detect(&frame)).expect("a face in the full frame");
        // Start from a box a little off, as the face moves between frames.
        let moved = FaceBox::new(full.x + 6, full.y - 4, full.w, full.h);
        let near = shared::haar::largest(&detector.detect_near(&frame, moved)).expect("the face near its box");
        assert!(near.iou(&full) > 0.8, "near {near:?} vs full {full:?}");
        // Nowhere near the face: the region search finds nothing.
        let elsewhere = FaceBox::new(0, 250, 60, 60);
        assert!(detector.detect_near(&frame, elsewhere).is_empty());
    }

    #[test]
    fn bad_parameters_and_files_are_errors_naming_the_file() {
        let cascade = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/haarcascade_frontalface_default.xml");
        let bad = DetectParams {
            scale_factor: 1.0,
            ..DetectParams::default()
        };
        let err = HaarDetector::load(&cascade, bad)
            .err()
            .expect("scale factor 1 is refused");
        assert!(format!("{err:#}").contains("scale factor"), "{err:#}");
        let err = HaarDetector::load(Path::new("/nonexistent/face.xml"), DetectParams::default())
            .err()
            .expect("missing file");
        assert!(format!("{err:#}").contains("/nonexistent/face.xml"), "{err:#}");
    }
}
