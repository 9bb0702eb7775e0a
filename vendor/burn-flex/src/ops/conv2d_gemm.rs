//! `conv2d` as im2col + one matrix product per image and group, on NCHW tensors: the
//! forward, the input gradient and the weight gradient.
//!
//! With `col_b,g` the classic im2col of image `b`'s input channels of group `g` (one row per
//! input channel and kernel position, one column per output pixel; rows are contiguous
//! copies of input rows at stride 1):
//!
//! ```text
//! forward          Y_b,g[c_out, p]       = W_g[c_out, (c_in, kh, kw)] * col_b,g
//! input gradient   dX_b,g                = col2im(W_g^T * dY_b,g)
//! weight gradient  dW_g[c_out, (c_in, kh, kw)] += dY_b,g[c_out, p] * col_b,g^T
//! ```
//!
//! A 1x1 convolution with stride 1 and no padding needs no im2col: the input plane is `col`
//! (and the input gradient is the product itself). Images are spread over rayon's threads,
//! each with its own `col` buffer (and, for the weight gradient, its own accumulator, summed
//! at the end); with fewer images than threads the products run in parallel instead.
//!
//! Why: burn-flex's forward converts the input to NHWC on one thread and scatters each
//! tile's product back to NCHW; its input gradient is a transposed convolution; and the
//! weight gradient it inherits from burn-backend is a convolution over batch/channel-swapped
//! tensors whose products are tall and thin (N = kh * kw, K = batch * output pixels).

use alloc::vec;
use alloc::vec::Vec;
use core::mem::MaybeUninit;

use burn_backend::DType;
use burn_backend::ops::ConvOptions;
use burn_backend::ops::conv::calculate_conv_output_size;
use burn_std::{Bytes, Shape};

use super::native::{NativeFloat, by_dtype, compute_dtype, every_second, filled, fresh, zeroed};
use crate::{FlexTensor, Layout};

/// Weight gradient of `conv2d` with symmetric padding (asymmetric padding is applied to `x`
/// by the caller). `weight_shape` is `[c_out, c_in / groups, kh, kw]`.
pub fn conv2d_weight_backward(
    x: FlexTensor,
    output_grad: FlexTensor,
    weight_shape: &[usize],
    options: &ConvOptions<2>,
) -> FlexTensor {
    let dtype = x.dtype();
    by_dtype!(dtype, "conv2d_weight_backward", |T, cast, back| back(
        weight_grad_typed::<T>(
            cast(&x),
            cast(&output_grad),
            weight_shape,
            options,
            compute_dtype(dtype),
        )
    ))
}

/// The shapes of one convolution, resolved once.
#[derive(Clone, Copy)]
pub(super) struct Geometry {
    pub(super) batch: usize,
    pub(super) c_in: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) c_out: usize,
    pub(super) out_h: usize,
    pub(super) out_w: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
    pub(super) stride: [usize; 2],
    pub(super) padding: [usize; 2],
    pub(super) dilation: [usize; 2],
    pub(super) groups: usize,
}

impl Geometry {
    fn in_per_group(&self) -> usize {
        self.c_in / self.groups
    }
    fn out_per_group(&self) -> usize {
        self.c_out / self.groups
    }
    pub(super) fn pixels(&self) -> usize {
        self.out_h * self.out_w
    }
    /// Columns of one group's gradient matrix: `c_in / groups * kh * kw`.
    fn cols(&self) -> usize {
        self.in_per_group() * self.kh * self.kw
    }
    /// The input plane is already the im2col matrix.
    fn is_pointwise(&self) -> bool {
        self.kh == 1
            && self.kw == 1
            && self.stride == [1, 1]
            && self.padding == [0, 0]
            && self.out_h == self.h
            && self.out_w == self.w
    }
}

fn weight_grad_typed<T: NativeFloat>(
    x: FlexTensor,
    output_grad: FlexTensor,
    weight_shape: &[usize],
    options: &ConvOptions<2>,
    dtype: DType,
) -> FlexTensor {
    let x = x.to_contiguous();
    let dy = output_grad.to_contiguous();
    let g = geometry(x.layout().shape(), weight_shape, options);
    let ys = dy.layout().shape();
    assert_eq!(ys[0], g.batch, "conv2d_weight_backward: batch sizes differ");
    assert_eq!(
        ys[1], g.c_out,
        "conv2d_weight_backward: output channels differ"
    );
    assert_eq!(
        [ys[2], ys[3]],
        [g.out_h, g.out_w],
        "conv2d_weight_backward: output gradient size"
    );
    assert_eq!(
        weight_shape[1] * g.groups,
        g.c_in,
        "conv2d_weight_backward: input channels differ"
    );
    let grad = weight_grad(x.storage::<T>(), dy.storage::<T>(), &g);
    FlexTensor::new(
        Bytes::from_elems(grad),
        Layout::contiguous(Shape::from(weight_shape.to_vec())),
        dtype,
    )
}

/// The gradient, `[c_out, c_in / groups, kh, kw]` row-major.
fn weight_grad<T: NativeFloat>(x: &[T], dy: &[T], g: &Geometry) -> Vec<T> {
    let len = g.c_out * g.cols();
    if g.batch == 0 || len == 0 || g.pixels() == 0 {
        return vec![T::ZERO; len];
    }
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        let threads = rayon::current_num_threads().clamp(1, g.batch);
        let per = g.batch.div_ceil(threads);
        let partials: Vec<Vec<T>> = (0..threads)
            .into_par_iter()
            .map(|t| accumulate(x, dy, g, t * per..((t + 1) * per).min(g.batch)))
            .collect();
        let mut partials = partials.into_iter();
        let mut sum = partials.next().unwrap_or_else(|| vec![T::ZERO; len]);
        for part in partials {
            for (s, p) in sum.iter_mut().zip(part) {
                *s += p;
            }
        }
        sum
    }
    #[cfg(not(feature = "rayon"))]
    accumulate(x, dy, g, 0..g.batch)
}

/// Bytes of `col` that [`accumulate`] builds at a time: a block of output rows whose columns
/// stay in a core's L2 cache between im2col writing them and the product reading them.
const WEIGHT_GRAD_COL_BYTES: usize = 512 * 1024;

/// Sum of the gradient over the images in `images`. Unless the input plane is `col` itself,
/// `col` is built a block of output rows at a time ([`WEIGHT_GRAD_COL_BYTES`]), and each block
/// adds its product to the gradient.
fn accumulate<T: NativeFloat>(
    x: &[T],
    dy: &[T],
    g: &Geometry,
    images: core::ops::Range<usize>,
) -> Vec<T> {
    let (pixels, cols, out_pg, in_pg) = (g.pixels(), g.cols(), g.out_per_group(), g.in_per_group());
    let mut grad = vec![T::ZERO; g.c_out * cols];
    let pointwise = g.is_pointwise();
    let block_rows = if pointwise {
        g.out_h
    } else {
        (WEIGHT_GRAD_COL_BYTES / (core::mem::size_of::<T>() * cols * g.out_w).max(1))
            .clamp(1, g.out_h)
    };
    let mut col = if pointwise {
        Vec::new()
    } else {
        vec![T::ZERO; cols * block_rows * g.out_w]
    };
    let first_image = images.start;
    for b in images {
        for group in 0..g.groups {
            let x_group = &x[(b * g.c_in + group * in_pg) * g.h * g.w..][..in_pg * g.h * g.w];
            let dy_group = &dy[(b * g.c_out + group * out_pg) * pixels..][..out_pg * pixels];
            let dst = &mut grad[group * out_pg * cols..][..out_pg * cols];
            for start in (0..g.out_h).step_by(block_rows) {
                let rows = start..(start + block_rows).min(g.out_h);
                let k = rows.len() * g.out_w;
                let rhs = if pointwise {
                    x_group
                } else {
                    im2col(x_group, g, rows.clone(), &mut col);
                    &col[..cols * k]
                };
                let lhs = &dy_group[start * g.out_w..];
                // dst[out_pg, cols] (+)= lhs[out_pg, k] * rhs[cols, k]^T, lhs's rows `pixels`
                // apart.
                // SAFETY: lhs holds `out_pg` rows of `k` values `pixels` apart (the last row
                // ends inside dy_group), rhs `cols` rows of `k` contiguous values, dst is a
                // unique borrow of `out_pg x cols` row-major values.
                unsafe {
                    gemm::gemm(
                        out_pg,
                        cols,
                        k,
                        dst.as_mut_ptr(),
                        1,
                        cols as isize,
                        b > first_image || start > 0,
                        lhs.as_ptr(),
                        1,
                        pixels as isize,
                        rhs.as_ptr(),
                        k as isize,
                        1,
                        T::ONE,
                        T::ONE,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            }
        }
    }
    grad
}

/// `col[(c, ki, kj), (oi - rows.start, oj)] = x[c, oi * sh + ki * dh - ph, oj * sw + kj * dw
/// - pw]` for the output rows `oi` in `rows`, zero outside the input.
fn im2col<T: NativeFloat>(x: &[T], g: &Geometry, rows: core::ops::Range<usize>, col: &mut [T]) {
    let (h, w, out_w) = (g.h, g.w, g.out_w);
    let ([sh, sw], [ph, pw], [dh, dw]) = (g.stride, g.padding, g.dilation);
    let mut col_rows = col.chunks_exact_mut(rows.len() * out_w);
    for c in 0..g.in_per_group() {
        let plane = &x[c * h * w..][..h * w];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = col_rows.next().expect("im2col buffer holds every row");
                // Output columns whose input column lies inside the image.
                let (lo, hi) = valid_range(kj * dw, pw, sw, w, out_w);
                if sh == 1 && sw == 1 && out_w == w {
                    shifted_plane(plane, g, rows.clone(), ki * dh, (lo, hi, kj * dw), row);
                    continue;
                }
                for (oi, dst) in rows.clone().zip(row.chunks_exact_mut(out_w)) {
                    let ii = (oi * sh + ki * dh).wrapping_sub(ph);
                    if ii >= h || lo >= hi {
                        dst.fill(T::ZERO);
                        continue;
                    }
                    let src = &plane[ii * w..][..w];
                    dst[..lo].fill(T::ZERO);
                    dst[hi..].fill(T::ZERO);
                    let first = lo * sw + kj * dw - pw;
                    if sw == 1 {
                        dst[lo..hi].copy_from_slice(&src[first..first + (hi - lo)]);
                    } else if sw == 2 {
                        let (pairs, last) = every_second(&src[first..], hi - lo);
                        for (d, pair) in dst[lo..hi - 1].iter_mut().zip(pairs) {
                            *d = pair[0];
                        }
                        dst[hi - 1] = *last;
                    } else {
                        for (d, s) in dst[lo..hi].iter_mut().zip(src[first..].iter().step_by(sw)) {
                            *d = *s;
                        }
                    }
                }
            }
        }
    }
}

/// One row of im2col for a stride-1 convolution whose output rows are as wide as the input's
/// (`row[(oi - rows.start) * w + oj] = plane[(oi + di - ph) * w + oj + dj - pw]`, zero
/// outside the input; valid columns `lo .. hi`, `dj` the kernel column's offset): consecutive
/// output rows read consecutive input rows at the same column offset, so the valid rows are
/// one contiguous copy, after which the few columns outside `lo .. hi` of each row (what the
/// copy brought in from the neighbouring input rows) are zeroed. For a 1x3 kernel that is one
/// copy of the plane and one zero per row, instead of one short copy per row.
fn shifted_plane<T: NativeFloat>(
    plane: &[T],
    g: &Geometry,
    rows: core::ops::Range<usize>,
    di: usize,
    (lo, hi, dj): (usize, usize, usize),
    row: &mut [T],
) {
    let (h, w) = (g.h, g.w);
    let [ph, pw] = g.padding;
    // Output rows `oi` whose input row `oi + di - ph` lies inside the image.
    let (r0, r1) = valid_range(di, ph, 1, h, rows.end);
    let (r0, r1) = (r0.max(rows.start), r1.max(rows.start));
    if r0 >= r1 || lo >= hi {
        row.fill(T::ZERO);
        return;
    }
    let (d0, d1) = ((r0 - rows.start) * w + lo, (r1 - 1 - rows.start) * w + hi);
    let s0 = (r0 + di - ph) * w + lo + dj - pw;
    row[d0..d1].copy_from_slice(&plane[s0..s0 + (d1 - d0)]);
    row[..d0].fill(T::ZERO);
    row[d1..].fill(T::ZERO);
    if lo > 0 || hi < w {
        for oi in r0..r1 - 1 {
            let at = (oi - rows.start) * w;
            row[at + hi..at + w + lo].fill(T::ZERO);
        }
    }
}

/// Half-open range of output positions `o` with `0 <= o * stride + offset - pad < size`.
fn valid_range(
    offset: usize,
    pad: usize,
    stride: usize,
    size: usize,
    out: usize,
) -> (usize, usize) {
    let lo = if offset >= pad {
        0
    } else {
        (pad - offset).div_ceil(stride)
    };
    let hi = if offset >= size + pad {
        0
    } else {
        (size + pad - offset).div_ceil(stride)
    };
    let hi = hi.min(out);
    (lo.min(hi), hi)
}

// ---------------------------------------------------------------------------------------
// Forward and input gradient: one matrix product per image and group, on NCHW directly.
// ---------------------------------------------------------------------------------------

/// `conv2d` forward with symmetric padding: `Y_b,g[c_out, p] = W_g[c_out, cols] *
/// col(X_b,g)[cols, p] (+ bias)`, written straight into the NCHW output.
pub fn conv2d_forward(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let dtype = x.dtype();
    by_dtype!(dtype, "conv2d", |T, cast, back| back(forward_typed::<T>(
        cast(&x),
        cast(&weight),
        bias.as_ref().map(|b| cast(b)),
        options,
        compute_dtype(dtype),
    )))
}

/// Input gradient of `conv2d` with symmetric padding: `col = W_g^T * dY_b,g`, then col2im
/// (scatter-add) into `dX_b,g`; a pointwise convolution writes the product into `dX`.
/// `x_shape` is the input's `[batch, c_in, h, w]`.
pub fn conv2d_x_backward(
    x_shape: &[usize],
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let dtype = output_grad.dtype();
    by_dtype!(dtype, "conv2d_x_backward", |T, cast, back| back(
        x_grad_typed::<T>(
            x_shape,
            cast(&weight),
            cast(&output_grad),
            options,
            compute_dtype(dtype),
        )
    ))
}

fn geometry(x_shape: &[usize], weight_shape: &[usize], options: &ConvOptions<2>) -> Geometry {
    let (kh, kw) = (weight_shape[2], weight_shape[3]);
    let padding = options.padding_begin();
    Geometry {
        batch: x_shape[0],
        c_in: x_shape[1],
        h: x_shape[2],
        w: x_shape[3],
        c_out: weight_shape[0],
        out_h: calculate_conv_output_size(
            kh,
            options.stride[0],
            padding[0],
            options.dilation[0],
            x_shape[2],
        ),
        out_w: calculate_conv_output_size(
            kw,
            options.stride[1],
            padding[1],
            options.dilation[1],
            x_shape[3],
        ),
        kh,
        kw,
        stride: options.stride,
        padding,
        dilation: options.dilation,
        groups: options.groups,
    }
}

/// Runs `f(image, out_chunk, scratch)` for every image's `chunk`-long slice of `out`,
/// initialised by `init` just before (`zeroed`, or [`start_from_bias`]: so `out` may start
/// uninitialised and is initialised when this returns), in
/// parallel over images (each thread with its own `scratch` of `scratch_len`); with fewer
/// images than threads the matrix products themselves run in parallel instead.
pub(super) fn per_image<T: NativeFloat>(
    out: &mut [MaybeUninit<T>],
    chunk: usize,
    scratch_len: usize,
    init: impl Fn(&mut [MaybeUninit<T>]) -> &mut [T] + Sync + Send,
    f: impl Fn(usize, &mut [T], &mut Vec<T>, gemm::Parallelism) + Sync + Send,
) {
    if chunk == 0 {
        return;
    }
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        let threads = rayon::current_num_threads();
        let images = out.len() / chunk;
        if images < threads {
            let mut scratch = vec![T::ZERO; scratch_len];
            for (b, o) in out.chunks_exact_mut(chunk).enumerate() {
                f(b, init(o), &mut scratch, gemm::Parallelism::Rayon(threads));
            }
        } else {
            out.par_chunks_exact_mut(chunk).enumerate().for_each_init(
                || vec![T::ZERO; scratch_len],
                |scratch, (b, o)| f(b, init(o), scratch, gemm::Parallelism::None),
            );
        }
    }
    #[cfg(not(feature = "rayon"))]
    {
        let mut scratch = vec![T::ZERO; scratch_len];
        for (b, o) in out.chunks_exact_mut(chunk).enumerate() {
            f(b, init(o), &mut scratch, gemm::Parallelism::None);
        }
    }
}

/// One image's output, initialised for its products to be added to: each plane holds its
/// channel's bias, or zeros without a bias (one pass over the output instead of a zeroing
/// pass and a bias pass).
pub(super) fn start_from_bias<'a, T: NativeFloat>(
    o: &'a mut [MaybeUninit<T>],
    bias: Option<&[T]>,
    pixels: usize,
) -> &'a mut [T] {
    let Some(bias) = bias else {
        return zeroed(o);
    };
    assert_eq!(o.len(), bias.len() * pixels, "conv2d: bias length");
    for (plane, &b) in o.chunks_exact_mut(pixels).zip(bias) {
        filled(plane, b);
    }
    // SAFETY: the planes cover `o` (asserted above) and `filled` initialised each;
    // `MaybeUninit<T>` has `T`'s layout.
    unsafe { &mut *(o as *mut [MaybeUninit<T>] as *mut [T]) }
}

fn forward_typed<T: NativeFloat>(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: &ConvOptions<2>,
    dtype: DType,
) -> FlexTensor {
    let x = x.to_contiguous();
    let weight = weight.to_contiguous();
    let g = geometry(x.layout().shape(), weight.layout().shape(), options);
    assert_eq!(
        weight.layout().shape()[1] * g.groups,
        g.c_in,
        "conv2d: input channels differ"
    );
    let (xs, ws) = (x.storage::<T>(), weight.storage::<T>());
    let bias = bias.map(|b| b.to_contiguous());
    let bias: Option<&[T]> = bias.as_ref().map(|b| b.storage::<T>());
    let shape = Shape::from(vec![g.batch, g.c_out, g.out_h, g.out_w]);
    if super::conv2d_winograd::applies(&g) {
        let out = super::conv2d_winograd::forward(xs, ws, bias, &g);
        return FlexTensor::new(Bytes::from_elems(out), Layout::contiguous(shape), dtype);
    }
    let (pixels, cols, out_pg, in_pg) = (g.pixels(), g.cols(), g.out_per_group(), g.in_per_group());
    let pointwise = g.is_pointwise();
    let scratch = if pointwise { 0 } else { cols * pixels };
    let out = fresh(g.batch * g.c_out * pixels, |out| {
        per_image(
            out,
            g.c_out * pixels,
            scratch,
            |o| start_from_bias(o, bias, pixels),
            |b, y, col, parallelism| {
                for group in 0..g.groups {
                    let x_group =
                        &xs[(b * g.c_in + group * in_pg) * g.h * g.w..][..in_pg * g.h * g.w];
                    let rhs = if pointwise {
                        x_group
                    } else {
                        im2col(x_group, &g, 0..g.out_h, col);
                        &col[..]
                    };
                    let lhs = &ws[group * out_pg * cols..][..out_pg * cols];
                    let dst = &mut y[group * out_pg * pixels..][..out_pg * pixels];
                    // dst[out_pg, pixels] = lhs[out_pg, cols] * rhs[cols, pixels]
                    // SAFETY: the slices hold exactly these row-major extents; dst is a unique borrow.
                    unsafe {
                        gemm::gemm(
                            out_pg,
                            pixels,
                            cols,
                            dst.as_mut_ptr(),
                            1,
                            pixels as isize,
                            bias.is_some(),
                            lhs.as_ptr(),
                            1,
                            cols as isize,
                            rhs.as_ptr(),
                            1,
                            pixels as isize,
                            T::ONE,
                            T::ONE,
                            false,
                            false,
                            false,
                            parallelism,
                        );
                    }
                }
            },
        )
    });
    FlexTensor::new(Bytes::from_elems(out), Layout::contiguous(shape), dtype)
}

fn x_grad_typed<T: NativeFloat>(
    x_shape: &[usize],
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
    dtype: DType,
) -> FlexTensor {
    let weight = weight.to_contiguous();
    let dy = output_grad.to_contiguous();
    let g = geometry(x_shape, weight.layout().shape(), options);
    let ys = dy.layout().shape();
    assert_eq!(
        [ys[0], ys[1], ys[2], ys[3]],
        [g.batch, g.c_out, g.out_h, g.out_w],
        "conv2d_x_backward: output gradient shape"
    );
    let (ws, dys) = (weight.storage::<T>(), dy.storage::<T>());
    if let Some(dx) = super::conv2d_winograd::input_gradient(dys, ws, &g) {
        return FlexTensor::new(
            Bytes::from_elems(dx),
            Layout::contiguous(Shape::from(x_shape.to_vec())),
            dtype,
        );
    }
    let (pixels, cols, out_pg, in_pg) = (g.pixels(), g.cols(), g.out_per_group(), g.in_per_group());
    let pointwise = g.is_pointwise();
    let plane_in = g.h * g.w;
    let scratch = if pointwise { 0 } else { cols * pixels };
    let dx = fresh(g.batch * g.c_in * plane_in, |dx| {
        per_image(
            dx,
            g.c_in * plane_in,
            scratch,
            zeroed,
            |b, dx_b, col, parallelism| {
                for group in 0..g.groups {
                    let lhs = &ws[group * out_pg * cols..][..out_pg * cols];
                    let rhs = &dys[(b * g.c_out + group * out_pg) * pixels..][..out_pg * pixels];
                    let dx_group = &mut dx_b[group * in_pg * plane_in..][..in_pg * plane_in];
                    let dst: &mut [T] = if pointwise { dx_group } else { &mut col[..] };
                    // dst[cols, pixels] = lhs[out_pg, cols]^T * rhs[out_pg, pixels]
                    // SAFETY: the slices hold exactly these extents (lhs read transposed); dst is a
                    // unique borrow.
                    unsafe {
                        gemm::gemm(
                            cols,
                            pixels,
                            out_pg,
                            dst.as_mut_ptr(),
                            1,
                            pixels as isize,
                            false,
                            lhs.as_ptr(),
                            cols as isize,
                            1,
                            rhs.as_ptr(),
                            1,
                            pixels as isize,
                            T::ZERO,
                            T::ONE,
                            false,
                            false,
                            false,
                            parallelism,
                        );
                    }
                    if !pointwise {
                        col2im(
                            col,
                            &g,
                            &mut dx_b[group * in_pg * plane_in..][..in_pg * plane_in],
                        );
                    }
                }
            },
        )
    });
    FlexTensor::new(
        Bytes::from_elems(dx),
        Layout::contiguous(Shape::from(x_shape.to_vec())),
        dtype,
    )
}

/// The adjoint of [`im2col`]: adds every `col` entry into the input position it was read
/// from. `x` must start zeroed (or hold what the sum should add to).
fn col2im<T: NativeFloat>(col: &[T], g: &Geometry, x: &mut [T]) {
    let (h, w, out_h, out_w) = (g.h, g.w, g.out_h, g.out_w);
    let ([sh, sw], [ph, pw], [dh, dw]) = (g.stride, g.padding, g.dilation);
    let mut rows = col.chunks_exact(out_h * out_w);
    for c in 0..g.in_per_group() {
        let plane = &mut x[c * h * w..][..h * w];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = rows.next().expect("col holds every row");
                let (lo, hi) = valid_range(kj * dw, pw, sw, w, out_w);
                if lo >= hi {
                    continue;
                }
                for oi in 0..out_h {
                    let ii = (oi * sh + ki * dh).wrapping_sub(ph);
                    if ii >= h {
                        continue;
                    }
                    let src = &row[oi * out_w..][lo..hi];
                    let first = lo * sw + kj * dw - pw;
                    let dst = &mut plane[ii * w..][..w];
                    if sw == 1 {
                        for (d, &s) in dst[first..first + (hi - lo)].iter_mut().zip(src) {
                            *d += s;
                        }
                    } else {
                        for (d, &s) in dst[first..].iter_mut().step_by(sw).zip(src) {
                            *d += s;
                        }
                    }
                }
            }
        }
    }
}
