//! Degraded faces made from clean ones: what a driver-facing camera sees through a hazy or
//! dirty windscreen, at night, in glare, in motion and after compression. The enhancer learns
//! to undo these, so they are the contract of what "enhancement" means here.
//!
//! Each face gets one or two kinds, drawn without repetition and applied in the order light
//! meets them (scene light, windscreen, lens, sensor, encoder):
//! * **uneven light**: a linear gain field across the face, `I = J * (1 + a * d(x, y))`, `d`
//!   in -1..1 along a random direction, `a` in 0.3..0.6 (sun on one side of the face);
//! * **haze**: the atmospheric model `I = J * t + A * (1 - t)`, transmission `t` in 0.35..0.75,
//!   airlight `A` in 0.75..1 (fog, glare, a dirty windscreen);
//! * **defocus**: a disk kernel of radius 1..2.5 pixels;
//! * **motion**: a line kernel of 3..7 pixels at a random angle;
//! * **low light**: gain `k` in 0.15..0.45 after gamma 1.2..2 (`I = k * J^gamma`), then sensor
//!   noise with a signal-dependent (shot) and a constant (read) part,
//!   `sigma^2 = a * I + b^2`, `a` in 0.002..0.01, `b` in 0.01..0.03;
//! * **JPEG**: encoded and decoded at quality 10..40.
//!
//! All values are on 0..1; the result is rounded to 8 bits, as a camera delivers it. The
//! draw is a pure function of the seed, so a face and its degradation are reproducible from
//! `(seed, epoch, index)` ([`sample_rng`]).

use std::f32::consts::PI;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{to_u8, to_unit};

/// One kind of degradation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
pub enum Degradation {
    /// A gain field across the face.
    UnevenLight,
    /// Atmospheric haze.
    Haze,
    /// Out-of-focus blur.
    Defocus,
    /// Motion blur.
    Motion,
    /// Dark, gamma-crushed and noisy.
    LowLight,
    /// JPEG artefacts.
    Jpeg,
}

impl Degradation {
    /// Every kind, in the order they are applied.
    pub const ALL: [Degradation; 6] = [
        Degradation::UnevenLight,
        Degradation::Haze,
        Degradation::Defocus,
        Degradation::Motion,
        Degradation::LowLight,
        Degradation::Jpeg,
    ];

    /// Lower-case name, as in reports.
    pub fn name(self) -> &'static str {
        match self {
            Degradation::UnevenLight => "uneven light",
            Degradation::Haze => "haze",
            Degradation::Defocus => "defocus",
            Degradation::Motion => "motion",
            Degradation::LowLight => "low light",
            Degradation::Jpeg => "jpeg",
        }
    }
}

/// The RNG of one face in one epoch: independent streams for every `(seed, epoch, index)`.
pub fn sample_rng(seed: u64, epoch: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    rng.set_stream(index);
    rng
}

/// Draws one or two kinds for a face, in the order they apply.
pub fn draw_kinds(rng: &mut impl Rng) -> Vec<Degradation> {
    let first = rng.random_range(0..Degradation::ALL.len());
    let mut kinds = vec![first];
    if rng.random_bool(0.5) {
        let second = (first + rng.random_range(1..Degradation::ALL.len())) % Degradation::ALL.len();
        kinds.push(second);
    }
    kinds.sort_unstable();
    kinds.into_iter().map(|i| Degradation::ALL[i]).collect()
}

/// A degraded copy of a clean `w x h` face: one or two kinds drawn from `rng`.
pub fn degrade(clean: &[u8], w: usize, h: usize, rng: &mut impl Rng) -> (Vec<u8>, Vec<Degradation>) {
    let kinds = draw_kinds(rng);
    (apply(clean, w, h, &kinds, rng), kinds)
}

/// Applies `kinds` (in the given order) with parameters drawn from `rng`.
pub fn apply(clean: &[u8], w: usize, h: usize, kinds: &[Degradation], rng: &mut impl Rng) -> Vec<u8> {
    assert_eq!(clean.len(), w * h, "a {w}x{h} face needs {} pixels", w * h);
    let mut img: Vec<f32> = clean.iter().map(|&p| to_unit(p)).collect();
    for &kind in kinds {
        match kind {
            Degradation::UnevenLight => uneven_light(&mut img, w, h, rng),
            Degradation::Haze => {
                let t = rng.random_range(0.35..0.75f32);
                let airlight = rng.random_range(0.75..1.0f32);
                img.iter_mut().for_each(|v| *v = *v * t + airlight * (1.0 - t));
            }
            Degradation::Defocus => {
                let radius = rng.random_range(1.0..2.5f32);
                img = convolve(&img, w, h, &disk_kernel(radius));
            }
            Degradation::Motion => {
                let length = rng.random_range(3.0..7.0f32);
                let angle = rng.random_range(0.0..PI);
                img = convolve(&img, w, h, &line_kernel(length, angle));
            }
            Degradation::LowLight => low_light(&mut img, rng),
            Degradation::Jpeg => {
                let quality = rng.random_range(10..=40u8);
                img = jpeg(&quantise(&img), w, h, quality).into_iter().map(to_unit).collect();
            }
        }
    }
    quantise(&img)
}

fn quantise(img: &[f32]) -> Vec<u8> {
    img.iter().map(|&v| to_u8(v)).collect()
}

fn uneven_light(img: &mut [f32], w: usize, h: usize, rng: &mut impl Rng) {
    let strength = rng.random_range(0.3..0.6f32);
    let angle = rng.random_range(0.0..2.0 * PI);
    let (dx, dy) = (angle.cos(), angle.sin());
    let half = |n: usize| (n.max(2) - 1) as f32 / 2.0;
    let (cx, cy) = (half(w), half(h));
    // Normalised so that the gain's extremes sit on the face's corners.
    let reach = (cx * dx.abs() + cy * dy.abs()).max(1.0);
    for y in 0..h {
        for x in 0..w {
            let d = ((x as f32 - cx) * dx + (y as f32 - cy) * dy) / reach;
            img[y * w + x] *= 1.0 + strength * d;
        }
    }
}

fn low_light(img: &mut [f32], rng: &mut impl Rng) {
    let gamma = rng.random_range(1.2..2.0f32);
    let gain = rng.random_range(0.15..0.45f32);
    let shot = rng.random_range(0.002..0.01f32);
    let read = rng.random_range(0.01..0.03f32);
    for v in img.iter_mut() {
        let signal = gain * v.clamp(0.0, 1.0).powf(gamma);
        let sigma = (shot * signal + read * read).sqrt();
        *v = signal + sigma * gaussian(rng);
    }
}

/// A standard normal draw (Box-Muller).
fn gaussian(rng: &mut impl Rng) -> f32 {
    let u1 = rng.random_range(f32::EPSILON..1.0);
    let u2 = rng.random::<f32>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// A square kernel, odd side, weights summing to 1.
struct Kernel {
    side: usize,
    weights: Vec<f32>,
}

impl Kernel {
    fn normalised(side: usize, mut weights: Vec<f32>) -> Self {
        let sum: f32 = weights.iter().sum();
        weights.iter_mut().for_each(|v| *v /= sum);
        Kernel { side, weights }
    }
}

fn disk_kernel(radius: f32) -> Kernel {
    let r = radius.ceil() as isize;
    let side = (2 * r + 1) as usize;
    // Each tap weighs the share of its pixel inside the disk, sampled 4x4.
    let weights = (-r..=r)
        .flat_map(|y| (-r..=r).map(move |x| (x, y)))
        .map(|(x, y)| {
            let inside = (0..16)
                .filter(|i| {
                    let sx = x as f32 + ((i % 4) as f32 + 0.5) / 4.0 - 0.5;
                    let sy = y as f32 + ((i / 4) as f32 + 0.5) / 4.0 - 0.5;
                    sx * sx + sy * sy <= radius * radius
                })
                .count();
            inside as f32
        })
        .collect();
    Kernel::normalised(side, weights)
}

fn line_kernel(length: f32, angle: f32) -> Kernel {
    let r = (length / 2.0).ceil() as isize;
    let side = (2 * r + 1) as usize;
    let mut weights = vec![0.0; side * side];
    // Points along the segment, each spread bilinearly over its four pixels.
    let steps = (length * 4.0).ceil() as usize;
    for i in 0..=steps {
        let t = i as f32 / steps as f32 - 0.5;
        let (x, y) = (t * length * angle.cos() + r as f32, t * length * angle.sin() + r as f32);
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        for (ox, oy, wt) in [
            (0, 0, (1.0 - fx) * (1.0 - fy)),
            (1, 0, fx * (1.0 - fy)),
            (0, 1, (1.0 - fx) * fy),
            (1, 1, fx * fy),
        ] {
            let (px, py) = (x0 as usize + ox, y0 as usize + oy);
            if px < side && py < side {
                weights[py * side + px] += wt;
            }
        }
    }
    Kernel::normalised(side, weights)
}

/// Convolution with replicated borders.
fn convolve(img: &[f32], w: usize, h: usize, k: &Kernel) -> Vec<f32> {
    let r = (k.side / 2) as isize;
    let at = |x: isize, y: isize| img[y.clamp(0, h as isize - 1) as usize * w + x.clamp(0, w as isize - 1) as usize];
    let mut out = vec![0.0; w * h];
    for y in 0..h as isize {
        for x in 0..w as isize {
            let mut acc = 0.0;
            for ky in 0..k.side as isize {
                for kx in 0..k.side as isize {
                    acc += k.weights[(ky * k.side as isize + kx) as usize] * at(x + kx - r, y + ky - r);
                }
            }
            out[y as usize * w + x as usize] = acc;
        }
    }
    out
}

/// Encodes and decodes a grey image as JPEG at `quality`.
fn jpeg(img: &[u8], w: usize, h: usize, quality: u8) -> Vec<u8> {
    use image::ImageEncoder;
    let mut bytes = Vec::new();
    let encoded = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality).write_image(
        img,
        w as u32,
        h as u32,
        image::ExtendedColorType::L8,
    );
    let decoded = encoded
        .ok()
        .and_then(|()| image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).ok())
        .map(|d| d.to_luma8().into_raw());
    // An in-memory encode of a valid buffer does not fail; if it ever did, the face stays as
    // it was rather than turning into something that is not a face.
    decoded.filter(|d| d.len() == img.len()).unwrap_or_else(|| img.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face() -> Vec<u8> {
        (0..48 * 48)
            .map(|i| {
                // Smooth shading plus sharp 4-pixel squares, so blur has edges to soften.
                let (x, y) = ((i % 48) as f32, (i / 48) as f32);
                let edges = if (i % 48 / 4 + i / 48 / 4) % 2 == 0 { 40.0 } else { 0.0 };
                (100.0 + 50.0 * (x / 6.0).sin() * (y / 9.0).cos() + edges) as u8
            })
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_face_and_another_seed_another() {
        let clean = face();
        let a = degrade(&clean, 48, 48, &mut sample_rng(42, 3, 17));
        let b = degrade(&clean, 48, 48, &mut sample_rng(42, 3, 17));
        assert_eq!(a, b);
        let others: Vec<_> = (0..8)
            .map(|i| degrade(&clean, 48, 48, &mut sample_rng(42, 3, 18 + i)).0)
            .collect();
        assert!(others.iter().all(|o| *o != a.0));
    }

    #[test]
    fn every_kind_changes_the_face_and_keeps_its_size() {
        let clean = face();
        for kind in Degradation::ALL {
            let out = apply(&clean, 48, 48, &[kind], &mut sample_rng(1, 0, 0));
            assert_eq!(out.len(), clean.len(), "{kind:?}");
            let diff: u64 = out.iter().zip(&clean).map(|(&a, &b)| a.abs_diff(b) as u64).sum();
            assert!(diff > 48 * 48, "{kind:?} changed the face by only {diff}");
        }
    }

    #[test]
    fn haze_lifts_the_dark_and_low_light_darkens() {
        let clean = vec![20u8; 16 * 16];
        let hazy = apply(&clean, 16, 16, &[Degradation::Haze], &mut sample_rng(5, 0, 0));
        assert!(hazy.iter().all(|&p| p > 70), "{:?}", &hazy[..4]);
        let bright = vec![200u8; 16 * 16];
        let dark = apply(&bright, 16, 16, &[Degradation::LowLight], &mut sample_rng(5, 0, 0));
        let mean = dark.iter().map(|&p| p as f32).sum::<f32>() / dark.len() as f32;
        assert!(mean < 120.0, "{mean}");
    }

    #[test]
    fn kernels_sum_to_one_and_keep_a_flat_face_flat() {
        for k in [
            disk_kernel(1.0),
            disk_kernel(2.4),
            line_kernel(3.0, 0.3),
            line_kernel(7.0, 2.0),
        ] {
            assert!((k.weights.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            let flat = vec![0.5; 10 * 10];
            let out = convolve(&flat, 10, 10, &k);
            assert!(out.iter().all(|v| (v - 0.5).abs() < 1e-5));
        }
    }

    #[test]
    fn kinds_come_in_the_order_light_meets_them() {
        for i in 0..200 {
            let kinds = draw_kinds(&mut sample_rng(9, 0, i));
            assert!((1..=2).contains(&kinds.len()));
            let order: Vec<usize> = kinds
                .iter()
                .map(|k| Degradation::ALL.iter().position(|a| a == k).unwrap())
                .collect();
            assert!(order.windows(2).all(|p| p[0] < p[1]), "{kinds:?}");
        }
    }
}
