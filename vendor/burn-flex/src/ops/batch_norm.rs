//! Batch normalisation as three native kernels: inference, training forward (with the batch's
//! statistics) and training backward.
//!
//! burn-backend's defaults build each of them from tensor operations: the training forward
//! alone swaps the batch and channel axes twice (two full transposed copies), takes two
//! reductions, and then runs five elementwise passes with an allocation each; the backward
//! is about a dozen more. Here every kernel makes the fewest passes the arithmetic allows:
//!
//! * training forward: one read pass for the statistics (shifted sums, see [`stats`]) and
//!   one pass that writes `y = x * scale[c] + shift[c]`;
//! * backward: one read pass for `sum(dy)` and `sum(dy * x_hat)` per channel and one pass
//!   that writes `dx = a[c] * dy + b[c] * x + k[c]` (into `dy`'s buffer when it is not
//!   shared);
//! * inference: the single `y = x * scale[c] + shift[c]` pass.
//!
//! The input is `[batch, channels, ...]`, read as `batch x channels` planes of the remaining
//! axes. Statistics are accumulated per plane in the element type and across planes in
//! `f64`; the variance is the biased one, as burn's `batch_norm_train` returns it. Channels
//! (for the reductions) and planes (for the writes) are spread over rayon's threads.

use alloc::vec::Vec;
use burn_backend::DType;
use burn_std::{Bytes, Shape};
#[cfg(not(feature = "std"))]
#[allow(unused_imports)]
use num_traits::Float;

use super::native::{NativeFloat, by_dtype, compute_dtype, fresh, zeroed};
use crate::{FlexTensor, Layout};

/// `[batch, channels, plane]` extents of an input of rank >= 2.
#[derive(Clone, Copy, Debug)]
struct Planes {
    batch: usize,
    channels: usize,
    plane: usize,
}

impl Planes {
    fn of(shape: &Shape, op: &str) -> Self {
        assert!(
            shape.num_dims() >= 2,
            "{op}: the input must be [batch, channels, ...]"
        );
        let (batch, channels) = (shape[0], shape[1]);
        let plane = shape.iter().skip(2).product::<usize>();
        Self {
            batch,
            channels,
            plane,
        }
    }
    /// Values per channel.
    fn count(&self) -> usize {
        self.batch * self.plane
    }
    /// The `plane` values of image `n`, channel `c`.
    fn at<'a, T>(&self, data: &'a [T], n: usize, c: usize) -> &'a [T] {
        &data[(n * self.channels + c) * self.plane..][..self.plane]
    }
}

/// `t` made contiguous (a copy only when it is not) and its shape.
fn values(t: &FlexTensor) -> (FlexTensor, Shape) {
    let t = t.to_contiguous();
    let shape = t.layout().shape().clone();
    (t, shape)
}

fn slice<T: NativeFloat>(t: &FlexTensor) -> &[T] {
    t.as_slice::<T>()
        .expect("batch_norm: contiguous tensor of the expected dtype")
}

fn channel_vec<T: NativeFloat>(t: &FlexTensor, channels: usize, what: &str) -> Vec<f64> {
    let (t, _) = values(t);
    let v = slice::<T>(&t);
    assert_eq!(
        v.len(),
        channels,
        "batch_norm: {what} has {} values for {channels} channels",
        v.len()
    );
    v.iter().map(|x| x.to_f64()).collect()
}

fn tensor_of<T: NativeFloat>(values: Vec<T>, shape: Shape, dtype: DType) -> FlexTensor {
    FlexTensor::new(Bytes::from_elems(values), Layout::contiguous(shape), dtype)
}

/// Runs `f(c)` for every channel (in parallel with rayon) and collects the results in order.
fn per_channel<R: Send>(channels: usize, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        (0..channels).into_par_iter().map(f).collect()
    }
    #[cfg(not(feature = "rayon"))]
    (0..channels).map(f).collect()
}

/// Calls `f(c, plane_index, out_plane)` for every plane of `out` (in parallel with rayon).
fn for_each_plane<E: Send>(
    out: &mut [E],
    p: Planes,
    f: impl Fn(usize, usize, &mut [E]) + Sync + Send,
) {
    if p.plane == 0 {
        return;
    }
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        // Enough planes per task that a 6x6 plane is not a task of its own.
        let min = (4096 / p.plane).max(1);
        out.par_chunks_mut(p.plane)
            .enumerate()
            .with_min_len(min)
            .for_each(|(i, o)| f(i % p.channels, i, o));
    }
    #[cfg(not(feature = "rayon"))]
    for (i, o) in out.chunks_mut(p.plane).enumerate() {
        f(i % p.channels, i, o)
    }
}

/// `(sum(f(a, b).0), sum(f(a, b).1))` over two equally long slices, in the element type,
/// sixteen lanes wide (no bounds checks inside, so the compiler vectorises it).
#[inline]
fn pair_sums<T: NativeFloat>(a: &[T], b: &[T], f: impl Fn(T, T) -> (T, T)) -> (T, T) {
    const L: usize = 16;
    let (mut s, mut t) = ([T::ZERO; L], [T::ZERO; L]);
    let (ca, cb) = (a.chunks_exact(L), b.chunks_exact(L));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (xa, xb) in ca.zip(cb) {
        for l in 0..L {
            let (u, v) = f(xa[l], xb[l]);
            s[l] += u;
            t[l] += v;
        }
    }
    let (mut u_sum, mut v_sum) = (T::ZERO, T::ZERO);
    for l in 0..L {
        u_sum += s[l];
        v_sum += t[l];
    }
    for (&x, &y) in ra.iter().zip(rb) {
        let (u, v) = f(x, y);
        u_sum += u;
        v_sum += v;
    }
    (u_sum, v_sum)
}

/// Mean and biased variance of every channel, in one read pass.
///
/// Sums are taken of `x - k`, with `k` the channel's first value: shifting by a value near
/// the mean keeps `sum((x - k)^2) - sum(x - k)^2 / m` free of the cancellation that the raw
/// sum of squares suffers when the mean is large against the spread.
fn stats<T: NativeFloat>(x: &[T], p: Planes) -> Vec<(f64, f64)> {
    let m = p.count();
    per_channel(p.channels, |c| {
        if m == 0 {
            return (f64::NAN, f64::NAN);
        }
        let k = p.at(x, 0, c)[0];
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for n in 0..p.batch {
            let v = p.at(x, n, c);
            let (a, b) = pair_sums(v, v, |x, _| {
                let d = x - k;
                (d, d * d)
            });
            s1 += a.to_f64();
            s2 += b.to_f64();
        }
        let mean_shifted = s1 / m as f64;
        let variance = (s2 / m as f64 - mean_shifted * mean_shifted).max(0.0);
        (k.to_f64() + mean_shifted, variance)
    })
}

/// `y = x * scale[c] + shift[c]`, a new buffer.
fn affine<T: NativeFloat>(x: &[T], p: Planes, scale: &[T], shift: &[T]) -> Vec<T> {
    fresh(x.len(), |out| {
        for_each_plane(out, p, |c, i, o| {
            let src = &x[i * p.plane..][..p.plane];
            let (a, b) = (scale[c], shift[c]);
            for (o, &v) in o.iter_mut().zip(src) {
                o.write(v * a + b);
            }
        })
    })
}

/// `scale = gamma / sqrt(var + eps)`, `shift = beta - mean * scale`, in `T`.
fn scale_shift<T: NativeFloat>(
    gamma: &[f64],
    beta: &[f64],
    mean: &[f64],
    variance: &[f64],
    epsilon: f64,
) -> (Vec<T>, Vec<T>) {
    let scale: Vec<f64> = gamma
        .iter()
        .zip(variance)
        .map(|(g, v)| g / (v + epsilon).sqrt())
        .collect();
    let shift = beta
        .iter()
        .zip(mean)
        .zip(&scale)
        .map(|((b, m), s)| T::from_f64(b - m * s))
        .collect();
    (scale.into_iter().map(T::from_f64).collect(), shift)
}

fn inference_typed<T: NativeFloat>(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    mean: &FlexTensor,
    variance: &FlexTensor,
    epsilon: f64,
    dtype: DType,
) -> FlexTensor {
    let (x, shape) = values(x);
    let p = Planes::of(&shape, "batch_norm");
    let [g, b, m, v] =
        [gamma, beta, mean, variance].map(|t| channel_vec::<T>(t, p.channels, "a statistic"));
    let (scale, shift) = scale_shift::<T>(&g, &b, &m, &v, epsilon);
    tensor_of(affine(slice::<T>(&x), p, &scale, &shift), shape, dtype)
}

fn train_typed<T: NativeFloat>(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    epsilon: f64,
    dtype: DType,
) -> [FlexTensor; 3] {
    let (x, shape) = values(x);
    let p = Planes::of(&shape, "batch_norm_train");
    let g = channel_vec::<T>(gamma, p.channels, "gamma");
    let b = channel_vec::<T>(beta, p.channels, "beta");
    let xs = slice::<T>(&x);
    let (mean, variance): (Vec<f64>, Vec<f64>) = stats(xs, p).into_iter().unzip();
    let (scale, shift) = scale_shift::<T>(&g, &b, &mean, &variance, epsilon);
    let out = affine(xs, p, &scale, &shift);
    let per_channel = Shape::new([p.channels]);
    [
        tensor_of(out, shape, dtype),
        tensor_of(
            mean.into_iter().map(T::from_f64).collect(),
            per_channel.clone(),
            dtype,
        ),
        tensor_of(
            variance.into_iter().map(T::from_f64).collect(),
            per_channel,
            dtype,
        ),
    ]
}

fn backward_typed<T: NativeFloat>(
    x: &FlexTensor,
    gamma: &FlexTensor,
    mean: &FlexTensor,
    variance: &FlexTensor,
    epsilon: f64,
    output_grad: FlexTensor,
    dtype: DType,
) -> [FlexTensor; 3] {
    let (x, shape) = values(x);
    let p = Planes::of(&shape, "batch_norm_train_backward");
    let g = channel_vec::<T>(gamma, p.channels, "gamma");
    let mean = channel_vec::<T>(mean, p.channels, "mean");
    let inv_std: Vec<f64> = channel_vec::<T>(variance, p.channels, "variance")
        .iter()
        .map(|v| 1.0 / (v + epsilon).sqrt())
        .collect();
    let mut dy = output_grad.into_contiguous();
    assert_eq!(
        dy.layout().shape(),
        &shape,
        "batch_norm_train_backward: the output gradient's shape differs from the input's"
    );
    let xs = slice::<T>(&x);

    // sum(dy) and sum(dy * (x - mean)) per channel; `x_hat = (x - mean) * inv_std`.
    let sums = {
        let dys = slice::<T>(&dy);
        per_channel(p.channels, |c| {
            let mu = T::from_f64(mean[c]);
            let (mut sdy, mut sdyx) = (0.0f64, 0.0f64);
            for n in 0..p.batch {
                let (xv, dv) = (p.at(xs, n, c), p.at(dys, n, c));
                let (a, b) = pair_sums(dv, xv, |d, x| (d, d * (x - mu)));
                sdy += a.to_f64();
                sdyx += b.to_f64();
            }
            (sdy, sdyx)
        })
    };
    let m = p.count() as f64;
    let beta_grad: Vec<f64> = sums.iter().map(|s| s.0).collect();
    let gamma_grad: Vec<f64> = sums.iter().zip(&inv_std).map(|(s, is)| s.1 * is).collect();

    // dx = gamma * inv_std * (dy - mean(dy) - x_hat * mean(dy * x_hat))
    //    = a * dy + b * x + k, per channel.
    let mut a = Vec::with_capacity(p.channels);
    let mut bx = Vec::with_capacity(p.channels);
    let mut k = Vec::with_capacity(p.channels);
    for c in 0..p.channels {
        let gis = g[c] * inv_std[c];
        let mean_dy = beta_grad[c] / m;
        let mean_dy_xhat = gamma_grad[c] / m;
        let b_c = -gis * inv_std[c] * mean_dy_xhat;
        a.push(T::from_f64(gis));
        bx.push(T::from_f64(b_c));
        k.push(T::from_f64(-gis * mean_dy - b_c * mean[c]));
    }
    let write = |c: usize, i: usize, o: &mut [T], dy_plane: Option<&[T]>| {
        let xv = &xs[i * p.plane..][..p.plane];
        let (a, b, k) = (a[c], bx[c], k[c]);
        match dy_plane {
            Some(d) => {
                for ((o, &d), &v) in o.iter_mut().zip(d).zip(xv) {
                    *o = d * a + (v * b + k);
                }
            }
            None => {
                for (o, &v) in o.iter_mut().zip(xv) {
                    *o = *o * a + (v * b + k);
                }
            }
        }
    };
    let x_grad = match dy.try_storage_mut::<T>() {
        // `dy` is ours alone and contiguous from offset 0: overwrite it.
        Some(buffer) if buffer.len() == xs.len() => {
            for_each_plane(buffer, p, |c, i, o| write(c, i, o, None));
            dy
        }
        _ => {
            let dys = slice::<T>(&dy);
            let out = fresh(xs.len(), |out| {
                for_each_plane(out, p, |c, i, o| {
                    write(c, i, zeroed(o), Some(&dys[i * p.plane..][..p.plane]))
                })
            });
            tensor_of(out, shape, dtype)
        }
    };
    let per_channel = Shape::new([p.channels]);
    let to_t = |v: Vec<f64>| v.into_iter().map(T::from_f64).collect::<Vec<T>>();
    [
        x_grad,
        tensor_of(to_t(gamma_grad), per_channel.clone(), dtype),
        tensor_of(to_t(beta_grad), per_channel, dtype),
    ]
}

/// Batch normalisation with given statistics (inference).
pub fn batch_norm(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    mean: FlexTensor,
    variance: FlexTensor,
    epsilon: f64,
) -> FlexTensor {
    let dtype = x.dtype();
    by_dtype!(dtype, "batch_norm", |T, cast, back| back(
        inference_typed::<T>(
            &cast(&x),
            &cast(&gamma),
            &cast(&beta),
            &cast(&mean),
            &cast(&variance),
            epsilon,
            compute_dtype(dtype),
        )
    ))
}

/// Batch normalisation with the batch's statistics: `[output, mean, biased variance]`.
pub fn batch_norm_train(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    epsilon: f64,
) -> [FlexTensor; 3] {
    let dtype = x.dtype();
    by_dtype!(dtype, "batch_norm_train", |T, cast, back| train_typed::<T>(
        &cast(&x),
        &cast(&gamma),
        &cast(&beta),
        epsilon,
        compute_dtype(dtype),
    )
    .map(back))
}

/// Gradients of [`batch_norm_train`]: `[x_grad, gamma_grad, beta_grad]`.
pub fn batch_norm_train_backward(
    x: FlexTensor,
    gamma: FlexTensor,
    mean: FlexTensor,
    variance: FlexTensor,
    epsilon: f64,
    output_grad: FlexTensor,
) -> [FlexTensor; 3] {
    let dtype = x.dtype();
    by_dtype!(dtype, "batch_norm_train_backward", |T, cast, back| {
        // Moved, not cloned, where no conversion is needed: the backward writes the input
        // gradient into the output gradient's buffer when nothing else holds it.
        let output_grad = if matches!(dtype, DType::F32 | DType::F64) {
            output_grad
        } else {
            cast(&output_grad)
        };
        backward_typed::<T>(
            &cast(&x),
            &cast(&gamma),
            &cast(&mean),
            &cast(&variance),
            epsilon,
            output_grad,
            compute_dtype(dtype),
        )
        .map(back)
    })
}
