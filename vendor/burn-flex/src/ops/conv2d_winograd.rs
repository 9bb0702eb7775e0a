//! The forward of a 3x3, stride-1 convolution as Winograd's F(2x2, 3x3) on NCHW: 16
//! matrix products of `c_out x c_in` by `c_in x tiles` per image instead of one of
//! `c_out x 9 c_in` by `9 c_in x pixels`, 2.25 times fewer multiply-adds.
//!
//! With `d` a 4x4 input tile (stride 2 over the padded input), `g` a 3x3 kernel and
//!
//! ```text
//! B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
//! A^T = [1 1 1 0; 0 1 -1 -1]
//! ```
//!
//! the 2x2 output tile is `A^T [sum over c_in of (G g G^T) . (B^T d B)] A` (`.` elementwise):
//! the sum over input channels, for each of the 16 positions of the 4x4 transformed tile, is
//! a matrix product `U[xi] (c_out x c_in) * V[xi] (c_in x tiles)`.
//!
//! Why: the network's two 3x3 stride-1 convolutions (conv2 and Inception-A's b3.2) hold 58%
//! of its multiply-adds, and the matrix products already run near the FMA units' peak, so
//! fewer multiply-adds is what is left to take. Their input gradients are 3x3 stride-1
//! convolutions too ([`input_gradient`]) and take the same path. Their weight gradients stay
//! with `conv2d_gemm.rs`: its one product per image runs faster for conv2 than 16 products
//! `dY'[xi] * V[xi]^T` per image through these transforms. F(2x2, 3x3) keeps float32
//! accuracy (its transforms add and halve; no large constants), unlike the larger tiles.

use alloc::vec;
use alloc::vec::Vec;

use super::conv2d_gemm::{Geometry, per_image, start_from_bias};
use super::native::{NativeFloat, fresh};

/// Positions of a transformed tile.
const XI: usize = 16;

/// Whether the forward of `g` goes through Winograd: 3x3 kernels, stride 1, no dilation, one
/// group, and enough input channels for the 16 products to be worth their transforms.
pub(crate) fn applies(g: &Geometry) -> bool {
    g.kh == 3
        && g.kw == 3
        && g.stride == [1, 1]
        && g.dilation == [1, 1]
        && g.groups == 1
        && g.c_in >= 16
        && g.out_h >= 2
        && g.out_w >= 2
}

/// The NCHW output of the convolution (`applies(g)` must hold), with the bias added.
pub(crate) fn forward<T: NativeFloat>(
    xs: &[T],
    ws: &[T],
    bias: Option<&[T]>,
    g: &Geometry,
) -> Vec<T> {
    let (th, tw) = (g.out_h.div_ceil(2), g.out_w.div_ceil(2));
    let tiles = th * tw;
    let u = transform_weights(ws, g);
    let pixels = g.pixels();
    let scratch = XI * (g.c_in + g.c_out) * tiles;
    fresh(g.batch * g.c_out * pixels, |out| {
        per_image(
            out,
            g.c_out * pixels,
            scratch,
            |o| start_from_bias(o, bias, pixels),
            |b, y, buf, parallelism| {
                let (v, m) = buf.split_at_mut(XI * g.c_in * tiles);
                let x = &xs[b * g.c_in * g.h * g.w..][..g.c_in * g.h * g.w];
                transform_input(x, g, tw, tiles, v);
                for xi in 0..XI {
                    let lhs = &u[xi * g.c_out * g.c_in..][..g.c_out * g.c_in];
                    let rhs = &v[xi * g.c_in * tiles..][..g.c_in * tiles];
                    let dst = &mut m[xi * g.c_out * tiles..][..g.c_out * tiles];
                    // dst[c_out, tiles] = lhs[c_out, c_in] * rhs[c_in, tiles]
                    // SAFETY: the slices hold exactly these row-major extents; dst is a
                    // unique borrow.
                    unsafe {
                        gemm::gemm(
                            g.c_out,
                            tiles,
                            g.c_in,
                            dst.as_mut_ptr(),
                            1,
                            tiles as isize,
                            false,
                            lhs.as_ptr(),
                            1,
                            g.c_in as isize,
                            rhs.as_ptr(),
                            1,
                            tiles as isize,
                            T::ZERO,
                            T::ONE,
                            false,
                            false,
                            false,
                            parallelism,
                        );
                    }
                }
                transform_output(m, g, tw, tiles, y);
            },
        )
    })
}

/// The input gradient of the convolution `g` (3x3, stride 1, undilated, ungrouped, with a
/// padding of at most 2), when it goes through Winograd: it is itself a 3x3 stride-1
/// convolution of the output gradient `dy`, with every kernel flipped and the channel roles
/// swapped (`W'[c_in][c_out] = W[c_out][c_in]` rotated by 180 degrees) and padding `2 - p`,
/// so it takes [`forward`] when that convolution [`applies`] (`c_out` of 16 or more). `None`:
/// the caller computes it otherwise.
pub(crate) fn input_gradient<T: NativeFloat>(dy: &[T], ws: &[T], g: &Geometry) -> Option<Vec<T>> {
    let [ph, pw] = g.padding;
    let shape_fits = g.kh == 3
        && g.kw == 3
        && g.stride == [1, 1]
        && g.dilation == [1, 1]
        && g.groups == 1
        && ph <= 2
        && pw <= 2
        // Symmetric padding: the transposed convolution gives back the input's size.
        && g.out_h + 2 * (2 - ph) == g.h + 2
        && g.out_w + 2 * (2 - pw) == g.w + 2;
    if !shape_fits {
        return None;
    }
    let t = Geometry {
        batch: g.batch,
        c_in: g.c_out,
        h: g.out_h,
        w: g.out_w,
        c_out: g.c_in,
        out_h: g.h,
        out_w: g.w,
        kh: 3,
        kw: 3,
        stride: [1, 1],
        padding: [2 - ph, 2 - pw],
        dilation: [1, 1],
        groups: 1,
    };
    if !applies(&t) {
        return None;
    }
    let mut flipped = vec![T::ZERO; ws.len()];
    for (k_c, k) in ws.chunks_exact(9).enumerate() {
        let (k_out, k_in) = (k_c / g.c_in, k_c % g.c_in);
        let dst = &mut flipped[(k_in * g.c_out + k_out) * 9..][..9];
        for (d, &v) in dst.iter_mut().zip(k.iter().rev()) {
            *d = v;
        }
    }
    Some(forward(dy, &flipped, None, &t))
}

/// `U[xi][c_out][c_in] = (G g G^T)[xi]` for every kernel `g`.
fn transform_weights<T: NativeFloat>(ws: &[T], g: &Geometry) -> Vec<T> {
    let half = T::from_f64(0.5);
    // G times a column of three: the same four combinations for G g and (G g) G^T.
    let by_g = |[g0, g1, g2]: [T; 3]| [g0, (g0 + g1 + g2) * half, (g0 - g1 + g2) * half, g2];
    let mut u = vec![T::ZERO; XI * g.c_out * g.c_in];
    for (k_c, k) in ws.chunks_exact(9).enumerate() {
        // Columns of G g (4x3), then the rows of (G g) G^T (4x4).
        let cols = [0, 1, 2].map(|j| by_g([k[j], k[3 + j], k[6 + j]]));
        for i in 0..4 {
            for (j, &value) in by_g(cols.map(|col| col[i])).iter().enumerate() {
                u[(i * 4 + j) * g.c_out * g.c_in + k_c] = value;
            }
        }
    }
    u
}

/// `V[xi][c_in][tile] = (B^T d B)[xi]` for every input tile `d` of one image (zeros where
/// the tile reaches into the padding or past the input). A row of tiles at a time, on the
/// four input rows split into even and odd columns (tile `t` starts at even column `2t`), so
/// that every step below reads and writes contiguous runs and vectorises: `B^T d` combines
/// the rows, `(B^T d) B` the columns `2t .. 2t + 3` into each position's run of tiles. A row
/// is split from a zero-padded copy of it (a copy and a de-interleave, no bounds check per
/// element), once for the two tile rows that read it.
fn transform_input<T: NativeFloat>(x: &[T], g: &Geometry, tw: usize, tiles: usize, v: &mut [T]) {
    let [ph, pw] = g.padding;
    // Padded column `j` is input column `j - pw`; tile `t` reads padded columns 2t .. 2t + 3.
    let half = tw + 1;
    let split = || [(); 4].map(|_| (vec![T::ZERO; half], vec![T::ZERO; half]));
    let (mut d, mut e) = (split(), split());
    // One padded input row: the columns outside the input stay zero.
    let mut padded = vec![T::ZERO; (2 * half).max(pw + g.w)];
    for c in 0..g.c_in {
        let plane = &x[c * g.h * g.w..][..g.h * g.w];
        for ty in 0..tiles / tw {
            // Tile rows overlap by two input rows: the last two of this one are the first two
            // of the next, already split.
            let first = if ty == 0 {
                0
            } else {
                d.swap(0, 2);
                d.swap(1, 3);
                2
            };
            for (i, (even, odd)) in d.iter_mut().enumerate().skip(first) {
                let r = (2 * ty + i).wrapping_sub(ph);
                if r >= g.h {
                    even.fill(T::ZERO);
                    odd.fill(T::ZERO);
                    continue;
                }
                padded[pw..pw + g.w].copy_from_slice(&plane[r * g.w..][..g.w]);
                let (pairs, _) = padded.as_chunks::<2>();
                for ((ev, od), pair) in even.iter_mut().zip(odd.iter_mut()).zip(pairs) {
                    *ev = pair[0];
                    *od = pair[1];
                }
            }
            let [(d0e, d0o), (d1e, d1o), (d2e, d2o), (d3e, d3o)] = &d;
            let [(e0e, e0o), (e1e, e1o), (e2e, e2o), (e3e, e3o)] = &mut e;
            for (d0, d1, d2, d3, e0, e1, e2, e3) in [
                (d0e, d1e, d2e, d3e, e0e, e1e, e2e, e3e),
                (d0o, d1o, d2o, d3o, e0o, e1o, e2o, e3o),
            ] {
                for t in 0..half {
                    e0[t] = d0[t] - d2[t];
                    e1[t] = d1[t] + d2[t];
                    e2[t] = d2[t] - d1[t];
                    e3[t] = d1[t] - d3[t];
                }
            }
            for (i, (even, odd)) in e.iter().enumerate() {
                let at = |j: usize| ((i * 4 + j) * g.c_in + c) * tiles + ty * tw;
                let (ev0, ev1, od0, od1) = (&even[..tw], &even[1..], &odd[..tw], &odd[1..]);
                for (t, out) in v[at(0)..][..tw].iter_mut().enumerate() {
                    *out = ev0[t] - ev1[t];
                }
                for (t, out) in v[at(1)..][..tw].iter_mut().enumerate() {
                    *out = od0[t] + ev1[t];
                }
                for (t, out) in v[at(2)..][..tw].iter_mut().enumerate() {
                    *out = ev1[t] - od0[t];
                }
                for (t, out) in v[at(3)..][..tw].iter_mut().enumerate() {
                    *out = od0[t] - od1[t];
                }
            }
        }
    }
}

/// `y += A^T m A` for every output tile of one image (`y` holds the bias), clipped to the
/// output where the output size is odd. A row of tiles at a time: `A^T m` combines the
/// positions' contiguous runs of tiles (vectorised), then `(A^T m) A` writes two output rows.
fn transform_output<T: NativeFloat>(m: &[T], g: &Geometry, tw: usize, tiles: usize, y: &mut [T]) {
    let mut r = [[T::ZERO; 4]; 2].map(|row| row.map(|_| vec![T::ZERO; tw]));
    for k in 0..g.c_out {
        let plane = &mut y[k * g.out_h * g.out_w..][..g.out_h * g.out_w];
        for ty in 0..tiles / tw {
            let s = |xi: usize| &m[(xi * g.c_out + k) * tiles + ty * tw..][..tw];
            for j in 0..4 {
                let (s0, s1, s2, s3) = (s(j), s(4 + j), s(8 + j), s(12 + j));
                let [top, bottom] = &mut r;
                for t in 0..tw {
                    top[j][t] = s0[t] + s1[t] + s2[t];
                    bottom[j][t] = s1[t] - s2[t] - s3[t];
                }
            }
            for (i, r) in r.iter().enumerate() {
                let oi = 2 * ty + i;
                if oi >= g.out_h {
                    break;
                }
                let row = &mut plane[oi * g.out_w..][..g.out_w];
                let (pairs, rest) = row.as_chunks_mut::<2>();
                for (t, out) in pairs.iter_mut().enumerate() {
                    out[0] += r[0][t] + r[1][t] + r[2][t];
                    out[1] += r[1][t] - r[2][t] - r[3][t];
                }
                if let [last] = rest {
                    let t = tw - 1;
                    *last += r[0][t] + r[1][t] + r[2][t];
                }
            }
        }
    }
}
