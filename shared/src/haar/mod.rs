//! Viola-Jones face detection with OpenCV's Haar cascades, in pure Rust.
//!
//! Why our own detector rather than binding OpenCV: the edge binary is cross-compiled for an
//! ARM board (and parts of `shared` for a microcontroller), where a C++ OpenCV build is a heavy,
//! fragile dependency. Why OpenCV's *algorithm*: the emotion network is trained on faces that
//! OpenCV's `CascadeClassifier::detectMultiScale` cropped, so the edge must crop the same boxes
//! or it feeds the network faces framed differently from training. The scan therefore follows
//! OpenCV 4.x step by step rather than a textbook Viola-Jones:
//!
//! 1. window scales `1, f, f², …` (f = `scale_factor`), keeping those whose rounded window
//!    lies between `min_size` and `max_size` (and fits the image);
//! 2. at each scale the **image** is shrunk (not the features enlarged) to `round(W / s)` x
//!    `round(H / s)` with OpenCV's bit-exact bilinear resize ([`resize`]);
//! 3. integral and squared integral images ([`integral`]) give every rectangle sum in four
//!    look-ups; each window is normalised by the standard deviation of its inner area (the
//!    window shrunk by one pixel on each side), and near-flat windows are skipped;
//! 4. the window slides by 2 pixels (1 once the scale reaches 2), and by one extra step after
//!    a window that fails the very first stage;
//! 5. stages sum their weak classifiers' float leaves and reject early (`detect`);
//! 6. hits are merged with OpenCV's `groupRectangles` (`min_neighbors`, eps 0.2) ([`group`])
//!    and clipped to the image.
//!
//! Cascades are read from OpenCV's XML (new `opencv-cascade-classifier` format; needs the
//! `std` feature) and can be stored as a compact postcard blob that the edge loads without an
//! XML parser ([`Cascade::to_postcard`], [`Cascade::from_postcard`]). Tilted (45°) features,
//! categorical (LBP) cascades and the old `opencv-haar-classifier` format are rejected with a
//! [`HaarError::Unsupported`] naming what was found; OpenCV's stock frontal-face cascades use
//! none of them.
//!
//! ```no_run
//! # fn demo(xml: &str, frame: &shared::GrayImage) -> Result<(), shared::haar::HaarError> {
//! use shared::haar::{largest, Cascade, DetectParams};
//! let cascade = Cascade::from_opencv_xml(xml)?;
//! let faces = cascade.detect(frame, &DetectParams::default());
//! let driver = largest(&faces);
//! # let _ = driver; Ok(()) }
//! ```

use alloc::string::String;

use serde::{Deserialize, Serialize};

use crate::image::FaceBox;

mod cascade;
mod detect;
pub mod group;
pub mod integral;
pub mod resize;
#[cfg(feature = "std")]
mod xml;

pub use cascade::{Cascade, HaarFeature, Node, Stage, WeakClassifier, WeightedRect};
pub use group::group_rectangles;

/// OpenCV's `GROUP_EPS`: how far (relative to size) two hits may differ and still be merged.
pub const GROUP_EPS: f64 = 0.2;

/// Most scales one detection may visit; guards against a scale factor barely above 1.
pub const MAX_SCALES: usize = 4096;

/// Errors loading a cascade or running detection with bad parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HaarError {
    /// The XML text is not well-formed.
    #[error("cascade XML is not well-formed: {0}")]
    Xml(String),
    /// A required element is missing.
    #[error("cascade XML has no <{0}> element")]
    Missing(String),
    /// A number in the XML could not be read.
    #[error("cascade XML: cannot read {what} from {text:?}")]
    BadNumber {
        /// Which value was being read.
        what: String,
        /// The offending text.
        text: String,
    },
    /// The cascade uses something this detector does not implement.
    #[error("unsupported cascade: {0}")]
    Unsupported(String),
    /// The cascade is structurally inconsistent (index out of range, rectangle outside the
    /// window, non-finite value, …).
    #[error("invalid cascade: {0}")]
    Invalid(String),
    /// The bytes are not a postcard cascade written by [`Cascade::to_postcard`].
    #[error("not a vigil Haar cascade blob (bad magic bytes)")]
    BadMagic,
    /// The blob was written by an incompatible version.
    #[error("cascade blob has format version {found}, this build reads version {expected}")]
    Version {
        /// Version in the blob.
        found: u16,
        /// Version this build writes and reads.
        expected: u16,
    },
    /// postcard could not encode or decode the cascade.
    #[error("cascade blob is corrupt or truncated: {0}")]
    Postcard(postcard::Error),
    /// Bytes are left over after the cascade.
    #[error("cascade blob has {0} unexpected trailing bytes")]
    TrailingBytes(usize),
    /// Detection parameters that OpenCV would also refuse.
    #[error("invalid detection parameters: {0}")]
    Params(String),
}

/// Parameters of [`Cascade::detect`], named and defaulted as OpenCV's `detectMultiScale`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DetectParams {
    /// Ratio between consecutive window sizes; must be > 1 (default 1.1).
    pub scale_factor: f32,
    /// A grouped box is kept only if more than this many raw hits support it (default 5);
    /// 0 returns the raw, ungrouped hits as OpenCV does.
    pub min_neighbors: u32,
    /// Smallest face side in pixels (default 30).
    pub min_size: u32,
    /// Largest face side in pixels; `None` (or 0) means the image size.
    pub max_size: Option<u32>,
}

impl Default for DetectParams {
    fn default() -> Self {
        DetectParams {
            scale_factor: 1.1,
            min_neighbors: 5,
            min_size: 30,
            max_size: None,
        }
    }
}

impl DetectParams {
    /// Checks what OpenCV asserts: a finite scale factor above 1.
    pub fn validate(&self) -> Result<(), HaarError> {
        if !(self.scale_factor.is_finite() && self.scale_factor > 1.0) {
            return Err(HaarError::Params(alloc::format!(
                "scale factor must be a finite number above 1, got {}",
                self.scale_factor
            )));
        }
        Ok(())
    }
}

/// The largest box by area (the first on ties): the driver is the face closest to the camera.
pub fn largest(boxes: &[FaceBox]) -> Option<FaceBox> {
    boxes
        .iter()
        .copied()
        .reduce(|best, b| if b.area() > best.area() { b } else { best })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::image::GrayImage;

    /// A crude synthetic face (light oval, dark eyes, brows, nostrils and mouth) on a grey
    /// gradient, so detection can be exercised without the research datasets.
    pub(crate) fn drawn_face(width: u32, height: u32) -> GrayImage {
        let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
        let r = height as f32 * 0.36;
        let ellipse = |x: f32, y: f32, ex: f32, ey: f32, rx: f32, ry: f32| {
            let (dx, dy) = ((x - ex) / rx, (y - ey) / ry);
            dx * dx + dy * dy <= 1.0
        };
        let pixels = (0..width * height)
            .map(|i| {
                let (x, y) = ((i % width) as f32, (i / width) as f32);
                let mut v = 60.0 + 40.0 * x / width as f32;
                if ellipse(x, y, cx, cy, r * 0.8, r) {
                    v = 190.0;
                    for side in [-1.0, 1.0] {
                        let ex = cx + side * r * 0.35;
                        if ellipse(x, y, ex, cy - r * 0.25, r * 0.16, r * 0.08) {
                            v = 40.0;
                        }
                        if ellipse(x, y, ex, cy - r * 0.45, r * 0.2, r * 0.04) {
                            v = 70.0;
                        }
                        if ellipse(x, y, cx + side * r * 0.1, cy + r * 0.2, r * 0.05, r * 0.04) {
                            v = 90.0;
                        }
                    }
                    if ellipse(x, y, cx, cy + r * 0.5, r * 0.3, r * 0.07) {
                        v = 60.0;
                    }
                }
                v as u8
            })
            .collect();
        GrayImage::from_raw(width, height, pixels).unwrap()
    }

    #[test]
    fn largest_prefers_area_then_first() {
        assert_eq!(largest(&[]), None);
        let a = FaceBox::new(0, 0, 10, 10);
        let b = FaceBox::new(5, 5, 20, 5);
        let c = FaceBox::new(1, 1, 12, 12);
        assert_eq!(largest(&[a, b, c]), Some(c));
        assert_eq!(largest(&[a, FaceBox::new(3, 3, 10, 10)]), Some(a));
    }

    #[test]
    fn params_default_and_validation() {
        let p = DetectParams::default();
        assert_eq!(
            (p.scale_factor, p.min_neighbors, p.min_size, p.max_size),
            (1.1, 5, 30, None)
        );
        assert!(p.validate().is_ok());
        for bad in [1.0, 0.5, f32::NAN, f32::INFINITY] {
            assert!(matches!(
                DetectParams { scale_factor: bad, ..p }.validate(),
                Err(HaarError::Params(_))
            ));
        }
    }
}
