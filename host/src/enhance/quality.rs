//! How close a restored face is to the clean one: PSNR and SSIM, the measures FFA-Net reports.
//!
//! Both work on 8-bit grey faces scaled to 0..1. SSIM is Wang et al. (2004) with their
//! constants: an 11x11 Gaussian window (sigma 1.5), `C1 = (0.01)^2`, `C2 = (0.03)^2`, over the
//! positions where the window fits inside the face, averaged.

/// Peak signal-to-noise ratio in dB of `a` against `b` (peak 255); identical faces give
/// [`f64::INFINITY`].
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "PSNR of faces of different sizes");
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = f64::from(x) - f64::from(y);
            d * d
        })
        .sum::<f64>()
        / a.len().max(1) as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// PSNR with identical faces capped at 100 dB, so that means stay finite.
pub fn psnr_capped(a: &[u8], b: &[u8]) -> f64 {
    psnr(a, b).min(100.0)
}

const WINDOW: usize = 11;

fn gaussian_window() -> [f64; WINDOW] {
    let sigma = 1.5f64;
    let mut w = [0.0; WINDOW];
    let c = (WINDOW / 2) as f64;
    for (i, v) in w.iter_mut().enumerate() {
        let d = i as f64 - c;
        *v = (-d * d / (2.0 * sigma * sigma)).exp();
    }
    let sum: f64 = w.iter().sum();
    w.map(|v| v / sum)
}

/// Structural similarity of two `w x h` faces (1 for identical faces).
pub fn ssim(a: &[u8], b: &[u8], w: usize, h: usize) -> f64 {
    assert_eq!(a.len(), w * h, "SSIM: a is not {w}x{h}");
    assert_eq!(b.len(), w * h, "SSIM: b is not {w}x{h}");
    if w < WINDOW || h < WINDOW {
        return if a == b { 1.0 } else { 0.0 };
    }
    let g = gaussian_window();
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let px = |img: &[u8], x: usize, y: usize| f64::from(img[y * w + x]) / 255.0;
    let mut total = 0.0;
    let mut count = 0usize;
    for y0 in 0..=h - WINDOW {
        for x0 in 0..=w - WINDOW {
            let (mut ma, mut mb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for (ky, gy) in g.iter().enumerate() {
                for (kx, gx) in g.iter().enumerate() {
                    let wt = gy * gx;
                    let (va, vb) = (px(a, x0 + kx, y0 + ky), px(b, x0 + kx, y0 + ky));
                    ma += wt * va;
                    mb += wt * vb;
                    saa += wt * va * va;
                    sbb += wt * vb * vb;
                    sab += wt * va * vb;
                }
            }
            let (va, vb, cov) = (saa - ma * ma, sbb - mb * mb, sab - ma * mb);
            total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            count += 1;
        }
    }
    total / count as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(shift: u8) -> Vec<u8> {
        (0..48 * 48)
            .map(|i| ((i % 48) * 4 + (i / 48) * 2) as u8 / 2 + shift)
            .collect()
    }

    #[test]
    fn identical_faces_score_perfectly() {
        let f = face(0);
        assert_eq!(psnr(&f, &f), f64::INFINITY);
        assert_eq!(psnr_capped(&f, &f), 100.0);
        assert!((ssim(&f, &f, 48, 48) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn psnr_matches_its_definition() {
        // Every pixel off by 5: MSE 25, PSNR = 10 log10(255^2 / 25).
        let (a, b) = (vec![100u8; 64], vec![105u8; 64]);
        let expected = 10.0 * (255.0f64 * 255.0 / 25.0).log10();
        assert!((psnr(&a, &b) - expected).abs() < 1e-9);
    }

    #[test]
    fn ssim_falls_with_structure_not_with_small_shifts() {
        let f = face(0);
        let shifted = face(3);
        let mut scrambled = f.clone();
        scrambled.reverse();
        let near = ssim(&f, &shifted, 48, 48);
        let far = ssim(&f, &scrambled, 48, 48);
        assert!(near > 0.95 && far < near, "{near} {far}");
        // Symmetric.
        assert!((ssim(&f, &scrambled, 48, 48) - ssim(&scrambled, &f, 48, 48)).abs() < 1e-12);
    }
}
