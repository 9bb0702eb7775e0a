//! OpenCV's bit-exact bilinear resize (`INTER_LINEAR_EXACT`) for 8-bit grey images.
//!
//! The cascade scans a shrunken copy of the frame at every scale, and a one-grey-level
//! difference in that copy can flip a weak classifier near its threshold, so we shrink the way
//! OpenCV's `CascadeClassifier` does rather than with `preprocess::resize` (area averaging):
//! pixel-centre aligned sample positions computed in double precision, 8-bit fixed-point
//! weights (rounded half to even), a horizontal pass kept exact in 8.8 fixed point, then a
//! vertical pass rounded half up. Samples left of (above) the first pixel centre copy the first
//! column (row), those past the last copy the last.

use alloc::vec::Vec;

use crate::image::GrayImage;

/// One output sample along an axis: where it reads and with which weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tap {
    /// Interpolate `src[offset]` and `src[offset + 1]` with weights `256 - frac` and `frac`.
    Lerp { offset: usize, frac: u32 },
    /// Copy one source sample (a border).
    Copy(usize),
}

fn taps(src: usize, dst: usize) -> Vec<Tap> {
    // OpenCV: inverse scale from the sizes, then scale = 1 / inverse, both in double.
    let scale = 1.0 / (dst as f64 / src as f64);
    (0..dst)
        .map(|d| {
            let f = scale * (d as f64 + 0.5) - 0.5;
            let i = libm::floor(f);
            if i >= 0.0 && src > 1 {
                let i = i as usize;
                if i < src - 1 {
                    let frac = libm::rint((f - i as f64) * 256.0).clamp(0.0, 256.0) as u32;
                    Tap::Lerp { offset: i, frac }
                } else {
                    Tap::Copy(src - 1)
                }
            } else {
                Tap::Copy(0)
            }
        })
        .collect()
}

/// Resizes row-major `src` (`sw x sh`) into `dst` (`dw x dh`, at least `dw * dh` long).
/// Equal sizes copy, as `cv::resize` does.
pub(crate) fn resize_into(src: &[u8], sw: usize, sh: usize, dst: &mut [u8], dw: usize, dh: usize) {
    if (sw, sh) == (dw, dh) {
        dst[..sw * sh].copy_from_slice(&src[..sw * sh]);
        return;
    }
    let xt = taps(sw, dw);
    let yt = taps(sh, dh);
    // Horizontal pass of one source row into 8.8 fixed point (exact: at most 255 * 256).
    let hpass = |y: usize, out: &mut [u32]| {
        let row = &src[y * sw..(y + 1) * sw];
        for (o, t) in out.iter_mut().zip(&xt) {
            *o = match *t {
                Tap::Lerp { offset, frac } => row[offset] as u32 * (256 - frac) + row[offset + 1] as u32 * frac,
                Tap::Copy(i) => (row[i] as u32) << 8,
            };
        }
    };
    let mut top = alloc::vec![0u32; dw];
    let mut bottom = alloc::vec![0u32; dw];
    let mut cached: (Option<usize>, Option<usize>) = (None, None);
    for (dy, t) in yt.iter().enumerate() {
        let out = &mut dst[dy * dw..(dy + 1) * dw];
        match *t {
            Tap::Copy(row) => {
                if cached.0 != Some(row) {
                    hpass(row, &mut top);
                    cached.0 = Some(row);
                }
                for (o, &v) in out.iter_mut().zip(&top) {
                    *o = ((v + 128) >> 8).min(255) as u8;
                }
            }
            Tap::Lerp { offset, frac } => {
                // Reuse the rows already filtered for the previous output row.
                if cached.0 != Some(offset) {
                    if cached.1 == Some(offset) {
                        core::mem::swap(&mut top, &mut bottom);
                        cached.0 = Some(offset);
                        cached.1 = None;
                    } else {
                        hpass(offset, &mut top);
                        cached.0 = Some(offset);
                    }
                }
                if cached.1 != Some(offset + 1) {
                    hpass(offset + 1, &mut bottom);
                    cached.1 = Some(offset + 1);
                }
                let (c0, c1) = (256 - frac, frac);
                for ((o, &a), &b) in out.iter_mut().zip(&top).zip(&bottom) {
                    *o = ((a * c0 + b * c1 + (1 << 15)) >> 16).min(255) as u8;
                }
            }
        }
    }
}

/// Bit-exact bilinear resize of a grey image (zero sizes become 1).
pub fn resize_linear_exact(image: &GrayImage, width: u32, height: u32) -> GrayImage {
    let (dw, dh) = (width.max(1) as usize, height.max(1) as usize);
    let mut out = alloc::vec![0u8; dw * dh];
    resize_into(
        image.pixels(),
        image.width() as usize,
        image.height() as usize,
        &mut out,
        dw,
        dh,
    );
    GrayImage::from_raw(dw as u32, dh as u32, out).expect("sizes are non-zero and consistent")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_averages_pixel_pairs() {
        // Exactly half: every output centre falls between two source pixels, weights 128/128.
        let img = GrayImage::from_raw(4, 2, alloc::vec![0, 10, 20, 31, 40, 50, 60, 70]).unwrap();
        let out = resize_linear_exact(&img, 2, 1);
        // (0+10+40+50)/4 = 25; (20+31+60+70)/4 = 45.25 -> 45.
        assert_eq!(out.pixels(), &[25, 45]);
    }

    #[test]
    fn constant_images_stay_constant_and_same_size_copies() {
        let img = GrayImage::filled(37, 23, 201);
        assert!(resize_linear_exact(&img, 17, 11).pixels().iter().all(|&p| p == 201));
        let ramp = GrayImage::from_raw(3, 1, alloc::vec![1, 2, 3]).unwrap();
        assert_eq!(resize_linear_exact(&ramp, 3, 1), ramp);
    }

    #[test]
    fn weights_follow_pixel_centres() {
        // 5 -> 4 samples: scale 1.25, centres at 0.125, 1.375, 2.625, 3.875.
        let t = taps(5, 4);
        assert_eq!(t[0], Tap::Lerp { offset: 0, frac: 32 });
        assert_eq!(t[1], Tap::Lerp { offset: 1, frac: 96 });
        assert_eq!(t[2], Tap::Lerp { offset: 2, frac: 160 });
        assert_eq!(t[3], Tap::Lerp { offset: 3, frac: 224 });
        // Enlarging puts the first and last samples on the borders.
        let t = taps(2, 4);
        assert_eq!(t[0], Tap::Copy(0));
        assert_eq!(t[3], Tap::Copy(1));
        let ramp = GrayImage::from_raw(2, 1, alloc::vec![0, 100]).unwrap();
        assert_eq!(resize_linear_exact(&ramp, 4, 1).pixels(), &[0, 25, 75, 100]);
    }
}
