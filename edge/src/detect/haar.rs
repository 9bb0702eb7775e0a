//! The Viola-Jones detector of `shared::haar` behind [`FaceDetector`], loaded from an OpenCV
//! XML cascade or vigil's postcard form.

use std::path::Path;

use shared::haar::{Cascade, DetectParams};
use shared::{FaceBox, GrayImage};

use super::FaceDetector;

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

    /// Loads a cascade file: OpenCV XML when it ends in `.xml`, postcard otherwise; default
    /// detection parameters.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        let what = || format!("loading face cascade {}", path.display());
        let is_xml = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xml"));
        let cascade = if is_xml {
            let text = std::fs::read_to_string(path).with_context(what)?;
            Cascade::from_opencv_xml(&text).with_context(what)?
        } else {
            let bytes = std::fs::read(path).with_context(what)?;
            Cascade::from_postcard(&bytes).with_context(what)?
        };
        Ok(HaarDetector::new(cascade, DetectParams::default()))
    }
}

impl FaceDetector for HaarDetector {
    fn detect(&mut self, frame: &GrayImage) -> Vec<FaceBox> {
        self.cascade.detect(frame, &self.params)
    }
}
