//! Integral images: any rectangle's pixel sum (and sum of squares) in four look-ups.
//!
//! Layout as OpenCV's `integral`: one extra zero row and column, so entry `(x, y)` holds the
//! sum of all pixels above and to the left of pixel `(x, y)`. Both tables are `u32` with
//! wrapping arithmetic, as OpenCV's `CV_32S` buffers behave: a large frame's squared sums
//! overflow 32 bits, but the difference of four entries is exact as long as the rectangle's
//! own sum fits, which holds for any window a cascade looks at (24x24x255² < 2³²).

use alloc::vec;
use alloc::vec::Vec;

use crate::image::GrayImage;

/// Fills `sum` and `sqsum` (each at least `stride * (height + 1)` long, `stride > width`)
/// with the integral and squared integral of a `width x height` row-major image.
pub(crate) fn integrate_into(
    pixels: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    sum: &mut [u32],
    sqsum: &mut [u32],
) {
    debug_assert!(stride > width && sum.len() >= stride * (height + 1) && sqsum.len() >= stride * (height + 1));
    sum[..=width].fill(0);
    sqsum[..=width].fill(0);
    for y in 0..height {
        let row = &pixels[y * width..(y + 1) * width];
        let (prev, cur) = sum.split_at_mut((y + 1) * stride);
        let (prev, cur) = (&prev[y * stride..y * stride + width + 1], &mut cur[..width + 1]);
        let (sqprev, sqcur) = sqsum.split_at_mut((y + 1) * stride);
        let (sqprev, sqcur) = (&sqprev[y * stride..y * stride + width + 1], &mut sqcur[..width + 1]);
        cur[0] = 0;
        sqcur[0] = 0;
        let (mut s, mut sq) = (0u32, 0u32);
        for x in 0..width {
            let p = row[x] as u32;
            s = s.wrapping_add(p);
            sq = sq.wrapping_add(p * p);
            cur[x + 1] = prev[x + 1].wrapping_add(s);
            sqcur[x + 1] = sqprev[x + 1].wrapping_add(sq);
        }
    }
}

/// Sum over the rectangle whose corners have table offsets `p0` (top-left), `p1` (top-right),
/// `p2` (bottom-left), `p3` (bottom-right).
#[inline(always)]
pub(crate) fn corner_sum(table: &[u32], p0: usize, p1: usize, p2: usize, p3: usize) -> u32 {
    table[p0]
        .wrapping_sub(table[p1])
        .wrapping_sub(table[p2])
        .wrapping_add(table[p3])
}

/// The integral and squared-integral images of a grey image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegralImage {
    width: usize,
    height: usize,
    sum: Vec<u32>,
    sqsum: Vec<u32>,
}

impl IntegralImage {
    /// Computes both tables.
    pub fn new(image: &GrayImage) -> Self {
        let (width, height) = (image.width() as usize, image.height() as usize);
        let stride = width + 1;
        let mut sum = vec![0; stride * (height + 1)];
        let mut sqsum = vec![0; stride * (height + 1)];
        integrate_into(image.pixels(), width, height, stride, &mut sum, &mut sqsum);
        IntegralImage {
            width,
            height,
            sum,
            sqsum,
        }
    }

    /// Table entry `(x, y)`, `x <= width`, `y <= height`: the sum of pixels above-left of it.
    pub fn at(&self, x: usize, y: usize) -> u32 {
        self.sum[y * (self.width + 1) + x]
    }

    fn offsets(&self, x: usize, y: usize, w: usize, h: usize) -> Option<[usize; 4]> {
        (x + w <= self.width && y + h <= self.height).then(|| {
            let s = self.width + 1;
            [y * s + x, y * s + x + w, (y + h) * s + x, (y + h) * s + x + w]
        })
    }

    /// Sum of the pixels in the rectangle, or `None` if it leaves the image.
    pub fn rect_sum(&self, x: usize, y: usize, w: usize, h: usize) -> Option<u32> {
        let [a, b, c, d] = self.offsets(x, y, w, h)?;
        Some(corner_sum(&self.sum, a, b, c, d))
    }

    /// Sum of the squared pixels in the rectangle, or `None` if it leaves the image.
    pub fn rect_sq_sum(&self, x: usize, y: usize, w: usize, h: usize) -> Option<u32> {
        let [a, b, c, d] = self.offsets(x, y, w, h)?;
        Some(corner_sum(&self.sqsum, a, b, c, d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn brute(img: &GrayImage, x: u32, y: u32, w: u32, h: u32, square: bool) -> u64 {
        let mut s = 0u64;
        for yy in y..y + h {
            for xx in x..x + w {
                let p = img.get(xx, yy) as u64;
                s += if square { p * p } else { p };
            }
        }
        s
    }

    #[test]
    fn known_small_image() {
        let img = GrayImage::from_raw(3, 2, alloc::vec![1, 2, 3, 4, 5, 6]).unwrap();
        let ii = IntegralImage::new(&img);
        assert_eq!(ii.at(0, 0), 0);
        assert_eq!(ii.at(3, 0), 0);
        assert_eq!(ii.at(0, 2), 0);
        assert_eq!(ii.at(3, 2), 21);
        assert_eq!(ii.at(2, 1), 3);
        assert_eq!(ii.rect_sum(1, 0, 2, 2), Some(2 + 3 + 5 + 6));
        assert_eq!(ii.rect_sq_sum(1, 1, 2, 1), Some(25 + 36));
        assert_eq!(ii.rect_sum(2, 0, 2, 1), None);
    }

    #[test]
    fn wrapping_squares_still_give_exact_window_sums() {
        // 300x300 of 255: the squared total (5.85e9) overflows u32, window sums must not care.
        let img = GrayImage::filled(300, 300, 255);
        let ii = IntegralImage::new(&img);
        assert_eq!(ii.rect_sq_sum(270, 270, 24, 24), Some(24 * 24 * 255 * 255));
        assert_eq!(ii.rect_sum(276, 100, 24, 24), Some(24 * 24 * 255));
    }

    proptest! {
        #[test]
        fn matches_brute_force(w in 1u32..20, h in 1u32..20, seed in any::<u64>(), rx in 0u32..20, ry in 0u32..20, rw in 0u32..20, rh in 0u32..20) {
            let mut state = seed | 1;
            let pixels = (0..w * h).map(|_| { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state as u8 }).collect();
            let img = GrayImage::from_raw(w, h, pixels).unwrap();
            let ii = IntegralImage::new(&img);
            let got = ii.rect_sum(rx as usize, ry as usize, rw as usize, rh as usize);
            if rx + rw <= w && ry + rh <= h {
                prop_assert_eq!(got.map(u64::from), Some(brute(&img, rx, ry, rw, rh, false)));
                let sq = ii.rect_sq_sum(rx as usize, ry as usize, rw as usize, rh as usize);
                prop_assert_eq!(sq.map(u64::from), Some(brute(&img, rx, ry, rw, rh, true)));
            } else {
                prop_assert_eq!(got, None);
            }
        }
    }
}
