//! Contrast enhancement of a grey face, the optional step between resizing and scaling:
//! global histogram equalisation, or CLAHE (equalisation per tile with a clip limit, mapped
//! bilinearly between the tiles), which evens out light from one side of the face.

use alloc::vec;

use super::Enhancement;
use crate::image::GrayImage;

/// Applies an [`Enhancement`].
pub fn enhance(img: &GrayImage, enhancement: Enhancement) -> GrayImage {
    match enhancement {
        Enhancement::None => img.clone(),
        Enhancement::Equalize => equalize_histogram(img),
        Enhancement::Clahe { clip_limit, tiles } => clahe(img, clip_limit, tiles),
    }
}

fn histogram(pixels: impl Iterator<Item = u8>) -> [u32; 256] {
    let mut hist = [0u32; 256];
    for p in pixels {
        hist[p as usize] += 1;
    }
    hist
}

/// Global histogram equalisation, following OpenCV's `equalizeHist`.
pub fn equalize_histogram(img: &GrayImage) -> GrayImage {
    let hist = histogram(img.pixels().iter().copied());
    let total = img.pixels().len() as u32;
    let first = hist.iter().position(|&h| h > 0).unwrap_or(0);
    if hist[first] == total {
        return img.clone();
    }
    let scale = 255.0 / (total - hist[first]) as f32;
    let mut lut = [0u8; 256];
    let mut sum = 0u32;
    for v in first + 1..256 {
        sum += hist[v];
        lut[v] = libm::roundf(sum as f32 * scale).clamp(0.0, 255.0) as u8;
    }
    let pixels = img.pixels().iter().map(|&p| lut[p as usize]).collect();
    GrayImage::from_raw(img.width(), img.height(), pixels).expect("same size")
}

/// Contrast-limited adaptive histogram equalisation with `tiles x tiles` regions and bilinear
/// blending of the per-tile mappings (the algorithm of OpenCV's `createCLAHE`).
pub fn clahe(img: &GrayImage, clip_limit: f32, tiles: u32) -> GrayImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let tiles = (tiles.max(1) as usize).min(w).min(h);
    let bounds = |len: usize, t: usize| (t * len / tiles, (t + 1) * len / tiles);
    let mut luts = vec![[0u8; 256]; tiles * tiles];
    for ty in 0..tiles {
        let (y0, y1) = bounds(h, ty);
        for tx in 0..tiles {
            let (x0, x1) = bounds(w, tx);
            let area = ((y1 - y0) * (x1 - x0)) as u32;
            let mut hist = histogram((y0..y1).flat_map(|y| img.row(y as u32)[x0..x1].iter().copied()));
            if clip_limit > 0.0 && clip_limit.is_finite() {
                let limit = ((clip_limit * area as f32 / 256.0) as u32).max(1);
                let mut excess = 0u32;
                for bin in hist.iter_mut() {
                    if *bin > limit {
                        excess += *bin - limit;
                        *bin = limit;
                    }
                }
                // Spread the clipped excess evenly, the remainder one count at a time.
                let (each, mut rest) = (excess / 256, (excess % 256) as usize);
                hist.iter_mut().for_each(|bin| *bin += each);
                if let Some(step) = 256usize.checked_div(rest) {
                    for bin in hist.iter_mut().step_by(step.max(1)) {
                        if rest == 0 {
                            break;
                        }
                        *bin += 1;
                        rest -= 1;
                    }
                }
            }
            let scale = 255.0 / area.max(1) as f32;
            let lut = &mut luts[ty * tiles + tx];
            let mut sum = 0u32;
            for (v, slot) in lut.iter_mut().enumerate() {
                sum += hist[v];
                *slot = libm::roundf(sum as f32 * scale).clamp(0.0, 255.0) as u8;
            }
        }
    }
    // Blend the four nearest tile mappings by the pixel's position between tile centres.
    let tile_w = w as f32 / tiles as f32;
    let tile_h = h as f32 / tiles as f32;
    let neighbours = |pos: f32, size: f32| {
        let t = pos / size - 0.5;
        let lo = libm::floorf(t);
        let frac = t - lo;
        let lo = lo as i64;
        let clamp = |i: i64| i.clamp(0, tiles as i64 - 1) as usize;
        (clamp(lo), clamp(lo + 1), frac)
    };
    let mut pixels = vec![0u8; w * h];
    for y in 0..h {
        let (ty0, ty1, fy) = neighbours(y as f32 + 0.5, tile_h);
        for x in 0..w {
            let (tx0, tx1, fx) = neighbours(x as f32 + 0.5, tile_w);
            let p = img.get(x as u32, y as u32) as usize;
            let at = |ty: usize, tx: usize| luts[ty * tiles + tx][p] as f32;
            let top = at(ty0, tx0) * (1.0 - fx) + at(ty0, tx1) * fx;
            let bottom = at(ty1, tx0) * (1.0 - fx) + at(ty1, tx1) * fx;
            pixels[y * w + x] = libm::roundf(top * (1.0 - fy) + bottom * fy).clamp(0.0, 255.0) as u8;
        }
    }
    GrayImage::from_raw(img.width(), img.height(), pixels).expect("same size")
}
