//! How a grey frame and a face box become the network's input — implemented once, used by
//! the trainer's data preparation and by the edge at inference time, so both see the same
//! pixels.
//!
//! Steps: crop the face box (with a margin, clamped to the frame) -> resize to 48x48 (area
//! averaging when shrinking, as OpenCV's `INTER_AREA`; bilinear when enlarging) -> optional
//! contrast enhancement (histogram equalisation or CLAHE) -> scale to the model's input range.

use alloc::vec;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::image::{FaceBox, GrayImage, ImageError};

mod contrast;
pub use contrast::{clahe, enhance, equalize_histogram};

/// Errors from preprocessing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreprocessError {
    /// The face box does not overlap the frame at all.
    #[error("face box {face:?} lies outside the {width}x{height} frame")]
    BoxOutside {
        /// The requested box.
        face: FaceBox,
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
    },
    /// A malformed image buffer.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The output buffer does not have 48x48 slots.
    #[error("output buffer holds {actual} values, expected {expected}")]
    OutputLength {
        /// Required length.
        expected: usize,
        /// Given length.
        actual: usize,
    },
}

/// Version of the preprocessing code: bump it whenever a change to the crop, resize,
/// enhancement or luma code changes the pixels it makes, so prepared-data caches made by the
/// old code are refused instead of silently mixed with the new.
pub const PREPROCESS_VERSION: u32 = 1;

/// A preprocessing recipe no model can be fed with; `key` is the field's path within the
/// recipe (`normalization.scale`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct RecipeError {
    /// E.g. `size`.
    pub key: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Contrast enhancement applied to the 48x48 crop (the paper's step 2 stand-in).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Enhancement {
    /// Leave pixels as they are.
    None,
    /// Global histogram equalisation (OpenCV `equalizeHist`).
    Equalize,
    /// Contrast-limited adaptive histogram equalisation.
    Clahe {
        /// Clip limit relative to a flat histogram (OpenCV's default is 40; 2-4 is typical).
        clip_limit: f32,
        /// Number of tiles along each axis.
        tiles: u32,
    },
}

impl Default for Enhancement {
    fn default() -> Self {
        Enhancement::Clahe {
            clip_limit: 2.0,
            tiles: 4,
        }
    }
}

/// Affine map from 0..255 pixels to the network's input: `value = pixel * scale + offset`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Multiplier.
    pub scale: f32,
    /// Added after scaling.
    pub offset: f32,
}

impl Normalization {
    /// The network input for one pixel.
    pub fn apply(self, pixel: u8) -> f32 {
        pixel as f32 * self.scale + self.offset
    }

    /// The inputs of pixels 0 and 255: the range every input lies in (in that order, so
    /// reversed when the scale is negative).
    pub fn range(self) -> (f32, f32) {
        (self.apply(0), self.apply(255))
    }
}

impl Default for Normalization {
    /// Pixels to 0..1.
    fn default() -> Self {
        Normalization {
            scale: 1.0 / 255.0,
            offset: 0.0,
        }
    }
}

/// Every preprocessing choice in one place; recorded in the model manifest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    /// Output side length (48).
    pub size: u32,
    /// Extra margin around the face box, as a fraction of its width/height on each side.
    pub margin: f32,
    /// Contrast enhancement of the crop.
    pub enhancement: Enhancement,
    /// Pixel scaling into the network.
    pub normalization: Normalization,
}

impl Default for Preprocessing {
    fn default() -> Self {
        Preprocessing {
            size: crate::INPUT_SIZE as u32,
            margin: 0.0,
            enhancement: Enhancement::default(),
            normalization: Normalization::default(),
        }
    }
}

impl Preprocessing {
    /// Checks that the recipe can feed the network: 48x48 output, a margin in 0..=1, a CLAHE
    /// with a positive clip limit and 1..=16 tiles, a finite non-zero scale and a finite
    /// offset that keep every pixel value finite. Recipes come from outside (a manifest, `edge.toml`), and a wrong size would
    /// make every face a huge allocation.
    pub fn validate(&self) -> Result<(), RecipeError> {
        let bad = |key, reason| Err(RecipeError { key, reason });
        if self.size as usize != crate::INPUT_SIZE {
            return bad("size", "must be 48: the network's input is 48x48");
        }
        if !(self.margin.is_finite() && (0.0..=1.0).contains(&self.margin)) {
            return bad("margin", "must be in 0..=1");
        }
        if let Enhancement::Clahe { clip_limit, tiles } = self.enhancement {
            if !(clip_limit.is_finite() && clip_limit > 0.0) {
                return bad("enhancement.clip_limit", "must be a finite number above 0");
            }
            if !(1..=16).contains(&tiles) {
                return bad("enhancement.tiles", "must be in 1..=16");
            }
        }
        let norm = &self.normalization;
        if !(norm.scale.is_finite() && norm.scale != 0.0) {
            return bad("normalization.scale", "must be a finite, non-zero number");
        }
        if !norm.offset.is_finite() {
            return bad("normalization.offset", "must be a finite number");
        }
        let (lo, hi) = norm.range();
        if !(lo.is_finite() && hi.is_finite()) {
            return bad(
                "normalization",
                "scales pixel values beyond f32 (0 or 255 is not finite)",
            );
        }
        Ok(())
    }

    /// Crop, resize and enhance: the 48x48 grey face the network sees (before scaling).
    pub fn face(&self, frame: &GrayImage, face: FaceBox) -> Result<GrayImage, PreprocessError> {
        Ok(enhance(&self.cropped(frame, face)?, self.enhancement))
    }

    /// Crop and resize only: the face a learned enhancer restores before [`enhance`] runs.
    pub fn cropped(&self, frame: &GrayImage, face: FaceBox) -> Result<GrayImage, PreprocessError> {
        let crop = crop(frame, face, self.margin)?;
        let size = self.size.max(1);
        Ok(resize(&crop, size, size))
    }

    /// Writes the scaled network input of an already-prepared face into `out`.
    pub fn normalize_into(&self, face: &GrayImage, out: &mut [f32]) -> Result<(), PreprocessError> {
        let pixels = face.pixels();
        if out.len() != pixels.len() {
            return Err(PreprocessError::OutputLength {
                expected: pixels.len(),
                actual: out.len(),
            });
        }
        for (o, &p) in out.iter_mut().zip(pixels) {
            *o = self.normalization.apply(p);
        }
        Ok(())
    }

    /// The scaled network input of an already-prepared face.
    pub fn normalize(&self, face: &GrayImage) -> Vec<f32> {
        face.pixels().iter().map(|&p| self.normalization.apply(p)).collect()
    }
}

/// The face box grown by `margin` (fraction of its size, each side) and clamped to the frame.
pub fn expand_and_clamp(face: FaceBox, margin: f32, width: u32, height: u32) -> Option<FaceBox> {
    let margin = if margin.is_finite() {
        margin.clamp(0.0, 10.0)
    } else {
        0.0
    };
    let mx = libm::roundf(face.w as f32 * margin) as i64;
    let my = libm::roundf(face.h as f32 * margin) as i64;
    let x0 = (face.x as i64 - mx).max(0);
    let y0 = (face.y as i64 - my).max(0);
    let x1 = (face.x as i64 + face.w as i64 + mx).min(width as i64);
    let y1 = (face.y as i64 + face.h as i64 + my).min(height as i64);
    (x1 > x0 && y1 > y0).then(|| FaceBox::new(x0 as i32, y0 as i32, (x1 - x0) as u32, (y1 - y0) as u32))
}

/// Crops the face box plus margin, clamped to the frame; an error if nothing is left.
pub fn crop(frame: &GrayImage, face: FaceBox, margin: f32) -> Result<GrayImage, PreprocessError> {
    let (width, height) = (frame.width(), frame.height());
    let b = expand_and_clamp(face, margin, width, height).ok_or(PreprocessError::BoxOutside { face, width, height })?;
    let mut pixels = Vec::with_capacity(b.area() as usize);
    for y in b.y as u32..b.y as u32 + b.h {
        let row = frame.row(y);
        pixels.extend_from_slice(&row[b.x as usize..b.x as usize + b.w as usize]);
    }
    Ok(GrayImage::from_raw(b.w, b.h, pixels)?)
}

/// Per-output-sample source taps: (first source index, weights).
struct Taps {
    start: Vec<usize>,
    weights: Vec<Vec<f32>>,
}

/// Resampling weights along one axis: box overlap when shrinking (area averaging), a tent
/// (bilinear, pixel-centre aligned) when enlarging.
fn taps(src: usize, dst: usize) -> Taps {
    let scale = src as f64 / dst as f64;
    let mut start = Vec::with_capacity(dst);
    let mut weights = Vec::with_capacity(dst);
    for d in 0..dst {
        if scale >= 1.0 {
            let lo = d as f64 * scale;
            let hi = lo + scale;
            let first = libm::floor(lo) as usize;
            let last = (libm::ceil(hi) as usize).min(src);
            let w: Vec<f32> = (first..last)
                .map(|s| ((hi.min(s as f64 + 1.0) - lo.max(s as f64)) / scale) as f32)
                .collect();
            start.push(first);
            weights.push(w);
        } else {
            let centre = ((d as f64 + 0.5) * scale - 0.5).max(0.0);
            let first = (libm::floor(centre) as usize).min(src - 1);
            let frac = (centre - first as f64) as f32;
            if first + 1 < src {
                weights.push(vec![1.0 - frac, frac]);
            } else {
                weights.push(vec![1.0]);
            }
            start.push(first);
        }
    }
    Taps { start, weights }
}

/// Resizes to `width x height`: area averaging when shrinking, bilinear when enlarging.
/// Zero target sizes are treated as 1.
pub fn resize(img: &GrayImage, width: u32, height: u32) -> GrayImage {
    let (width, height) = (width.max(1), height.max(1));
    if (img.width(), img.height()) == (width, height) {
        return img.clone();
    }
    let (sw, sh) = (img.width() as usize, img.height() as usize);
    let (dw, dh) = (width as usize, height as usize);
    let xt = taps(sw, dw);
    let yt = taps(sh, dh);
    // Horizontal pass into f32 rows, then vertical pass.
    let mut rows = vec![0f32; sh * dw];
    for y in 0..sh {
        let src = img.row(y as u32);
        let out = &mut rows[y * dw..(y + 1) * dw];
        for (x, o) in out.iter_mut().enumerate() {
            let s = xt.start[x];
            *o = xt.weights[x]
                .iter()
                .enumerate()
                .map(|(i, w)| w * src[s + i] as f32)
                .sum();
        }
    }
    let mut pixels = vec![0u8; dw * dh];
    for y in 0..dh {
        let s = yt.start[y];
        for x in 0..dw {
            let v: f32 = yt.weights[y]
                .iter()
                .enumerate()
                .map(|(i, w)| w * rows[(s + i) * dw + x])
                .sum();
            pixels[y * dw + x] = libm::roundf(v).clamp(0.0, 255.0) as u8;
        }
    }
    GrayImage::from_raw(width, height, pixels).expect("sizes are non-zero and consistent")
}

#[cfg(test)]
mod tests;
