//! The two plain types every stage passes around: an 8-bit grey image and a face box.
//!
//! They are deliberately minimal (no dependency on the `image` crate) so the same code runs on
//! the board, in `no_std`, and in the trainer.

use alloc::vec;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

/// Errors constructing an image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// The pixel buffer does not hold `width * height` bytes.
    #[error("pixel buffer holds {actual} bytes, expected {width}x{height} = {expected}")]
    WrongLength {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// `width * height`.
        expected: usize,
        /// Buffer length.
        actual: usize,
    },
    /// `width * height` does not fit this target's address space (32-bit boards).
    #[error("{width}x{height} pixels do not fit in memory on this target")]
    TooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// Zero width or height.
    #[error("image has no pixels ({width}x{height})")]
    Empty {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
}

/// `width * height * channels` in `usize`, checked: on a 32-bit target it can overflow, and
/// a wrapped count would let a buffer of another geometry through.
fn pixel_count(width: u32, height: u32, channels: usize) -> Result<usize, ImageError> {
    (width as usize)
        .checked_mul(height as usize)
        .and_then(|n| n.checked_mul(channels))
        .ok_or(ImageError::TooLarge { width, height })
}

/// An 8-bit single-channel image, row-major, no padding.
///
/// Deserializing goes through [`GrayImage::from_raw`], so a decoded image holds the same
/// promise as a constructed one: `width * height` pixels, none of them zero-sized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawGrayImage")]
pub struct GrayImage {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

/// The fields of a [`GrayImage`] as they arrive, before their geometry is checked.
#[derive(Deserialize)]
struct RawGrayImage {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl TryFrom<RawGrayImage> for GrayImage {
    type Error = ImageError;

    fn try_from(raw: RawGrayImage) -> Result<Self, ImageError> {
        Self::from_raw(raw.width, raw.height, raw.pixels)
    }
}

impl GrayImage {
    /// Wraps a row-major buffer; fails if its length is not `width * height` or it is empty.
    pub fn from_raw(width: u32, height: u32, pixels: Vec<u8>) -> Result<Self, ImageError> {
        if width == 0 || height == 0 {
            return Err(ImageError::Empty { width, height });
        }
        let expected = pixel_count(width, height, 1)?;
        if pixels.len() != expected {
            return Err(ImageError::WrongLength {
                width,
                height,
                expected,
                actual: pixels.len(),
            });
        }
        Ok(Self { width, height, pixels })
    }

    /// A `width x height` image filled with `value` (zero sizes become 1).
    pub fn filled(width: u32, height: u32, value: u8) -> Self {
        let (width, height) = (width.max(1), height.max(1));
        Self {
            width,
            height,
            pixels: vec![value; width as usize * height as usize],
        }
    }

    /// Builds an image from RGB bytes (3 per pixel) with OpenCV's luma weights.
    pub fn from_rgb(width: u32, height: u32, rgb: &[u8]) -> Result<Self, ImageError> {
        let expected = pixel_count(width, height, 3)?;
        if rgb.len() != expected {
            return Err(ImageError::WrongLength {
                width,
                height,
                expected,
                actual: rgb.len(),
            });
        }
        let pixels = rgb.chunks_exact(3).map(|p| luma(p[0], p[1], p[2])).collect();
        Self::from_raw(width, height, pixels)
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Row-major pixels.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// Consumes the image, returning its pixels.
    pub fn into_pixels(self) -> Vec<u8> {
        self.pixels
    }

    /// Pixel at (x, y); panics when out of bounds, like slice indexing.
    pub fn get(&self, x: u32, y: u32) -> u8 {
        self.pixels[y as usize * self.width as usize + x as usize]
    }

    /// One row of pixels.
    pub fn row(&self, y: u32) -> &[u8] {
        let w = self.width as usize;
        &self.pixels[y as usize * w..(y as usize + 1) * w]
    }
}

/// An axis-aligned face box in pixel coordinates (x, y of the top-left corner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct FaceBox {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

impl FaceBox {
    /// A box from its top-left corner and size.
    pub const fn new(x: i32, y: i32, w: u32, h: u32) -> Self {
        Self { x, y, w, h }
    }

    /// The box covering a whole `width x height` image.
    pub const fn whole(width: u32, height: u32) -> Self {
        Self {
            x: 0,
            y: 0,
            w: width,
            h: height,
        }
    }

    /// Area in pixels.
    pub fn area(&self) -> u64 {
        self.w as u64 * self.h as u64
    }

    /// Intersection over union with another box, in 0..=1.
    pub fn iou(&self, other: &FaceBox) -> f32 {
        let x0 = (self.x as i64).max(other.x as i64);
        let y0 = (self.y as i64).max(other.y as i64);
        let x1 = (self.x as i64 + self.w as i64).min(other.x as i64 + other.w as i64);
        let y1 = (self.y as i64 + self.h as i64).min(other.y as i64 + other.h as i64);
        let inter = ((x1 - x0).max(0) * (y1 - y0).max(0)) as f64;
        let union = self.area() as f64 + other.area() as f64 - inter;
        if union <= 0.0 { 0.0 } else { (inter / union) as f32 }
    }
}

/// OpenCV's RGB -> grey conversion (ITU-R BT.601 weights 0.299, 0.587, 0.114 in 14-bit fixed
/// point, rounded), so crops match what OpenCV-based tools produce.
pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    const R: u32 = 4899;
    const G: u32 = 9617;
    const B: u32 = 1868;
    ((r as u32 * R + g as u32 * G + b as u32 * B + (1 << 13)) >> 14) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pixel count that overflows `usize` is refused, not wrapped (on 32-bit boards this is
    /// 65536x65536; here the RGB count of the largest image).
    #[test]
    fn sizes_that_overflow_are_refused() {
        let err = GrayImage::from_rgb(u32::MAX, u32::MAX, &[]).unwrap_err();
        assert_eq!(
            err,
            ImageError::TooLarge {
                width: u32::MAX,
                height: u32::MAX
            }
        );
    }

    #[test]
    fn luma_matches_opencv() {
        assert_eq!(luma(255, 255, 255), 255);
        assert_eq!(luma(0, 0, 0), 0);
        assert_eq!(luma(255, 0, 0), 76);
        assert_eq!(luma(0, 255, 0), 150);
        assert_eq!(luma(0, 0, 255), 29);
    }

    #[test]
    fn from_raw_checks_length() {
        assert!(GrayImage::from_raw(2, 2, vec![0; 4]).is_ok());
        assert!(matches!(
            GrayImage::from_raw(2, 2, vec![0; 5]),
            Err(ImageError::WrongLength { .. })
        ));
        assert!(matches!(
            GrayImage::from_raw(0, 2, vec![]),
            Err(ImageError::Empty { .. })
        ));
    }

    /// A serialized image whose buffer does not match its size is refused on the way in,
    /// as `from_raw` refuses it.
    #[test]
    fn deserializing_checks_the_geometry() {
        let image = GrayImage::from_raw(2, 3, vec![1, 2, 3, 4, 5, 6]).unwrap();
        let bytes = postcard::to_allocvec(&image).unwrap();
        assert_eq!(postcard::from_bytes::<GrayImage>(&bytes).unwrap(), image);

        #[derive(Serialize)]
        struct Forged {
            width: u32,
            height: u32,
            pixels: Vec<u8>,
        }
        for (width, height, pixels) in [(2, 3, vec![0; 5]), (0, 3, vec![]), (1000, 1000, vec![0; 4])] {
            let bytes = postcard::to_allocvec(&Forged { width, height, pixels }).unwrap();
            assert!(
                postcard::from_bytes::<GrayImage>(&bytes).is_err(),
                "{width}x{height} with a wrong buffer was accepted"
            );
        }
    }

    #[test]
    fn iou_of_known_boxes() {
        let a = FaceBox::new(0, 0, 10, 10);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&FaceBox::new(20, 20, 5, 5)), 0.0);
        let half = a.iou(&FaceBox::new(5, 0, 10, 10));
        assert!((half - 50.0 / 150.0).abs() < 1e-6);
    }
}
