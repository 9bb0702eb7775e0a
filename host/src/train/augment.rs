//! Seeded on-the-fly augmentation of training images.
//!
//! Where it acts: on the network input, that is after the shared preprocessing (crop, 48x48
//! resize, CLAHE) and the normalisation, on each gathered training batch. Nothing here touches
//! validation or test images, the prepared cache, or the edge. Why after CLAHE: the cache holds
//! enhanced faces, and augmenting them keeps preparation a one-off; brightness and contrast
//! jitter then model what CLAHE leaves of lighting changes rather than raw exposure.
//!
//! Every draw comes from the epoch's seeded generator in a fixed order (image by image, kind
//! by kind), so an epoch's augmented batches are the same on every run and after `--resume`.
//!
//! Kinds, each off at its neutral value:
//! * random resized crop: the image is resampled from a centred square of side `s` (drawn in
//!   `crop..=1` of the side) moved by the shift, then scaled back to 48x48;
//! * shift: translation by up to `shift` of the side in x and y;
//! * rotation: up to `rotate` degrees either way, about the centre;
//! * brightness and contrast jitter: `x' = (x - mean) * c + mean + b`, `c` in `1 ± contrast`,
//!   `b` in `± brightness` of the value range, clamped to the range;
//! * random erasing: with probability `erase`, a rectangle of 2-20% of the area, aspect 0.3-3.3,
//!   filled with uniform noise over the value range.
//!
//! Geometry uses one inverse affine map and bilinear sampling with edge clamping, so the faces
//! are never shifted onto a black border.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Which augmentations run and how strongly (see the module docs); `Default` is all off.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Augmentation {
    /// Smallest crop side as a fraction of the image side (1: no random crop).
    pub crop: f32,
    /// Largest shift as a fraction of the side (0: none).
    pub shift: f32,
    /// Largest rotation in degrees (0: none).
    pub rotate: f32,
    /// Largest brightness offset as a fraction of the value range (0: none).
    pub brightness: f32,
    /// Largest contrast change (0: none; 0.3 gives factors 0.7..1.3).
    pub contrast: f32,
    /// Probability of random erasing per image (0: never).
    pub erase: f32,
}

impl Default for Augmentation {
    fn default() -> Self {
        Augmentation::OFF
    }
}

/// An augmentation setting out of range.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum AugmentError {
    /// `crop` outside 0.3..=1.
    #[error("crop {0} must lie in 0.3..=1")]
    Crop(f32),
    /// `shift` outside 0..=0.5.
    #[error("shift {0} must lie in 0..=0.5")]
    Shift(f32),
    /// `rotate` outside 0..=90 degrees.
    #[error("rotation {0} must lie in 0..=90 degrees")]
    Rotate(f32),
    /// Brightness or contrast outside 0..=1.
    #[error("brightness {brightness} and contrast {contrast} must lie in 0..=1")]
    Photometric {
        /// Brightness jitter.
        brightness: f32,
        /// Contrast jitter.
        contrast: f32,
    },
    /// Erase probability outside 0..=1.
    #[error("erase probability {0} must lie in 0..=1")]
    Erase(f32),
}

impl Augmentation {
    /// Nothing.
    pub const OFF: Augmentation = Augmentation {
        crop: 1.0,
        shift: 0.0,
        rotate: 0.0,
        brightness: 0.0,
        contrast: 0.0,
        erase: 0.0,
    };

    /// The in-the-wild recipe: crops of 85-100%, 8% shift, ±10°, ±0.1 brightness and ±0.2
    /// contrast, erasing on one image in four.
    pub const WILD: Augmentation = Augmentation {
        crop: 0.85,
        shift: 0.08,
        rotate: 10.0,
        brightness: 0.1,
        contrast: 0.2,
        erase: 0.25,
    };

    /// Whether any kind is on.
    pub fn is_on(&self) -> bool {
        self.geometric() || self.photometric() || self.erase > 0.0
    }

    fn geometric(&self) -> bool {
        self.crop < 1.0 || self.shift > 0.0 || self.rotate > 0.0
    }

    fn photometric(&self) -> bool {
        self.brightness > 0.0 || self.contrast > 0.0
    }

    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), AugmentError> {
        let ok = |v: f32, lo: f32, hi: f32| v.is_finite() && (lo..=hi).contains(&v);
        if !ok(self.crop, 0.3, 1.0) {
            return Err(AugmentError::Crop(self.crop));
        }
        if !ok(self.shift, 0.0, 0.5) {
            return Err(AugmentError::Shift(self.shift));
        }
        if !ok(self.rotate, 0.0, 90.0) {
            return Err(AugmentError::Rotate(self.rotate));
        }
        if !ok(self.brightness, 0.0, 1.0) || !ok(self.contrast, 0.0, 1.0) {
            return Err(AugmentError::Photometric {
                brightness: self.brightness,
                contrast: self.contrast,
            });
        }
        if !ok(self.erase, 0.0, 1.0) {
            return Err(AugmentError::Erase(self.erase));
        }
        Ok(())
    }

    /// Augments one `width x height` single-channel image in place; `range` is the value range
    /// of the normalised pixels (`(lo, hi)`), `scratch` a reusable buffer.
    pub fn apply(
        &self,
        image: &mut [f32],
        width: usize,
        height: usize,
        range: (f32, f32),
        rng: &mut impl Rng,
        scratch: &mut Vec<f32>,
    ) {
        if width == 0 || height == 0 || image.len() != width * height {
            return;
        }
        if self.geometric() {
            let scale = if self.crop < 1.0 {
                rng.random_range(self.crop..=1.0)
            } else {
                1.0
            };
            let (dx, dy) = if self.shift > 0.0 {
                (
                    rng.random_range(-self.shift..=self.shift) * width as f32,
                    rng.random_range(-self.shift..=self.shift) * height as f32,
                )
            } else {
                (0.0, 0.0)
            };
            let angle = if self.rotate > 0.0 {
                rng.random_range(-self.rotate..=self.rotate).to_radians()
            } else {
                0.0
            };
            warp(image, width, height, scale, angle, (dx, dy), scratch);
        }
        let (lo, hi) = if range.0 <= range.1 { range } else { (range.1, range.0) };
        let span = hi - lo;
        if self.photometric() {
            let c = if self.contrast > 0.0 {
                1.0 + rng.random_range(-self.contrast..=self.contrast)
            } else {
                1.0
            };
            let b = if self.brightness > 0.0 {
                rng.random_range(-self.brightness..=self.brightness) * span
            } else {
                0.0
            };
            let mean = image.iter().sum::<f32>() / image.len() as f32;
            for p in image.iter_mut() {
                *p = ((*p - mean) * c + mean + b).clamp(lo, hi);
            }
        }
        if self.erase > 0.0 && rng.random_bool(f64::from(self.erase)) {
            let area = (width * height) as f32 * rng.random_range(0.02f32..=0.2);
            let aspect = rng.random_range(0.3f32..=3.3);
            let ew = ((area * aspect).sqrt().round() as usize).clamp(1, width);
            let eh = ((area / aspect).sqrt().round() as usize).clamp(1, height);
            let x0 = rng.random_range(0..=width - ew);
            let y0 = rng.random_range(0..=height - eh);
            for y in y0..y0 + eh {
                for p in &mut image[y * width + x0..y * width + x0 + ew] {
                    *p = lo + rng.random::<f32>() * span;
                }
            }
        }
    }
}

/// Resamples `image` so that the output's centre shows the source at `centre + shift`, rotated
/// by `angle` and magnified by `1 / scale` (bilinear, edges clamped).
fn warp(
    image: &mut [f32],
    width: usize,
    height: usize,
    scale: f32,
    angle: f32,
    shift: (f32, f32),
    scratch: &mut Vec<f32>,
) {
    scratch.clear();
    scratch.extend_from_slice(image);
    let (cx, cy) = ((width as f32 - 1.0) / 2.0, (height as f32 - 1.0) / 2.0);
    let (sin, cos) = angle.sin_cos();
    let max_x = (width - 1) as f32;
    let max_y = (height - 1) as f32;
    for y in 0..height {
        for x in 0..width {
            let (u, v) = (x as f32 - cx, y as f32 - cy);
            let sx = (cos * u - sin * v) * scale + cx + shift.0;
            let sy = (sin * u + cos * v) * scale + cy + shift.1;
            let sx = sx.clamp(0.0, max_x);
            let sy = sy.clamp(0.0, max_y);
            let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
            let (x1, y1) = ((x0 + 1).min(width - 1), (y0 + 1).min(height - 1));
            let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
            let at = |xx: usize, yy: usize| scratch[yy * width + xx];
            let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
            let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
            image[y * width + x] = top * (1.0 - fy) + bottom * fy;
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn gradient(w: usize, h: usize) -> Vec<f32> {
        (0..w * h).map(|i| (i % w) as f32 / (w - 1) as f32).collect()
    }

    #[test]
    fn off_changes_nothing_and_draws_nothing() {
        let mut img = gradient(8, 8);
        let before = img.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut twin = rng.clone();
        Augmentation::OFF.apply(&mut img, 8, 8, (0.0, 1.0), &mut rng, &mut Vec::new());
        assert_eq!(img, before);
        assert_eq!(rng.random::<u64>(), twin.random::<u64>());
        assert!(!Augmentation::OFF.is_on());
        assert!(Augmentation::WILD.is_on());
    }

    #[test]
    fn identity_warp_keeps_pixels_and_shift_moves_them() {
        let mut img = gradient(6, 4);
        let before = img.clone();
        warp(&mut img, 6, 4, 1.0, 0.0, (0.0, 0.0), &mut Vec::new());
        for (a, b) in img.iter().zip(&before) {
            assert!((a - b).abs() < 1e-6);
        }
        // Shift by one pixel to the right in the source: each output pixel shows its right
        // neighbour; the last column is clamped to the edge.
        warp(&mut img, 6, 4, 1.0, 0.0, (1.0, 0.0), &mut Vec::new());
        assert!((img[0] - before[1]).abs() < 1e-6);
        assert!((img[5] - before[5]).abs() < 1e-6);
    }

    #[test]
    fn rotation_by_90_degrees_turns_a_row_into_a_column() {
        // A bright top row; rotated by 90 degrees it becomes a bright column.
        let mut img = vec![0.0; 25];
        img[..5].fill(1.0);
        warp(
            &mut img,
            5,
            5,
            1.0,
            std::f32::consts::FRAC_PI_2,
            (0.0, 0.0),
            &mut Vec::new(),
        );
        let column: Vec<f32> = (0..5).map(|y| img[y * 5]).collect();
        assert!(column.iter().all(|&v| (v - 1.0).abs() < 1e-5), "{img:?}");
        assert!(img.iter().filter(|&&v| v > 0.5).count() == 5);
    }

    #[test]
    fn same_seed_same_result_and_values_stay_in_range() {
        let wild = Augmentation {
            erase: 1.0,
            ..Augmentation::WILD
        };
        let run = |seed| {
            let mut img = gradient(48, 48);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            wild.apply(&mut img, 48, 48, (0.0, 1.0), &mut rng, &mut Vec::new());
            img
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let img = run(7);
        assert!(img.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_ne!(img, gradient(48, 48));
    }

    #[test]
    fn validation_rejects_out_of_range_settings() {
        assert!(Augmentation::WILD.validate().is_ok());
        for bad in [
            Augmentation {
                crop: 0.1,
                ..Augmentation::OFF
            },
            Augmentation {
                rotate: f32::NAN,
                ..Augmentation::OFF
            },
            Augmentation {
                erase: 1.5,
                ..Augmentation::OFF
            },
            Augmentation {
                shift: -0.1,
                ..Augmentation::OFF
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
