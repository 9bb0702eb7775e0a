//! What vigil's native kernels (`batch_norm.rs`, `conv2d_gemm.rs`, and the max pools in
//! `pool.rs`) share: the float types they run in, the dispatch that runs `f32`/`f64`
//! natively and the half types through `f32`, fresh outputs initialised part by part, and a
//! stride-2 read as contiguous pairs ([`every_second`]).

use core::mem::MaybeUninit;

use burn_backend::DType;

/// A float type the native kernels compute in.
pub(crate) trait NativeFloat:
    burn_backend::Element
    + bytemuck::Pod
    + Copy
    + Send
    + Sync
    + core::ops::Add<Output = Self>
    + core::ops::Sub<Output = Self>
    + core::ops::Mul<Output = Self>
    + core::ops::AddAssign
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

macro_rules! native_float {
    ($t:ty) => {
        impl NativeFloat for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
        }
    };
}
native_float!(f32);
native_float!(f64);

/// A fresh output of `len` elements whose parts `fill` gets one at a time: `fill` hands each
/// part to [`zeroed`] or [`filled`] just before writing it, so the zeroing happens in cache instead of as a
/// `memset` of the whole buffer whose lines have left the cache by the time they are written.
/// `fill` must initialise all `len` elements.
pub(crate) fn fresh<T>(len: usize, fill: impl FnOnce(&mut [MaybeUninit<T>])) -> Vec<T> {
    let mut out = Vec::with_capacity(len);
    fill(&mut out.spare_capacity_mut()[..len]);
    // SAFETY: `fill` initialised every element (its contract: each part went through
    // `zeroed` or `filled`, or was written element by element).
    unsafe { out.set_len(len) };
    out
}

/// `part` zeroed, as initialised elements.
pub(crate) fn zeroed<T: NativeFloat>(part: &mut [MaybeUninit<T>]) -> &mut [T] {
    filled(part, T::ZERO)
}

/// `part` with every element set to `value`, as initialised elements.
pub(crate) fn filled<T: Copy>(part: &mut [MaybeUninit<T>], value: T) -> &mut [T] {
    part.fill(MaybeUninit::new(value));
    // SAFETY: every element was initialised just above, and `MaybeUninit<T>` has `T`'s layout.
    unsafe { &mut *(part as *mut [MaybeUninit<T>] as *mut [T]) }
}

/// `from[0], from[2], .., from[2 (n - 1)]` (`n >= 1`), as the first elements of `n - 1` pairs
/// and a last element: a stride-2 read as contiguous runs, which vectorise where
/// `step_by(2)` reads one element at a time. `from` must hold at least `2 n - 1` elements.
pub(crate) fn every_second<T>(from: &[T], n: usize) -> (&[[T; 2]], &T) {
    let (pairs, [last]) = from[..2 * n - 1].as_chunks::<2>() else {
        unreachable!("an odd number of elements leaves one over");
    };
    (pairs, last)
}

/// The dtype a kernel computes in for tensors of `dtype`: `f64` for `f64`, `f32` otherwise.
pub(crate) fn compute_dtype(dtype: DType) -> DType {
    match dtype {
        DType::F64 => DType::F64,
        _ => DType::F32,
    }
}

/// `by_dtype!(dtype, "op", |T, cast, back| body)` evaluates `body` with `T` the type to
/// compute in, `cast(&tensor)` the tensor converted to it and `back(result)` the result
/// converted to `dtype`: `f32`/`f64` natively (`cast` is a cheap clone, `back` the
/// identity), `f16`/`bf16` through `f32`. Other dtypes panic, naming `op`.
macro_rules! by_dtype {
    ($dtype:expr, $op:literal, |$t:ident, $cast:ident, $back:ident| $body:expr) => {
        match $dtype {
            burn_backend::DType::F32 => {
                type $t = f32;
                let $cast = |t: &$crate::FlexTensor| t.clone();
                let $back = |t: $crate::FlexTensor| t;
                $body
            }
            burn_backend::DType::F64 => {
                type $t = f64;
                let $cast = |t: &$crate::FlexTensor| t.clone();
                let $back = |t: $crate::FlexTensor| t;
                $body
            }
            burn_backend::DType::F16 => {
                type $t = f32;
                let $cast = |t: &$crate::FlexTensor| {
                    $crate::ops::module::cast_to_f32(t.clone(), burn_std::f16::to_f32)
                };
                let $back = |t: $crate::FlexTensor| {
                    $crate::ops::module::cast_from_f32(t, burn_std::f16::from_f32)
                };
                $body
            }
            burn_backend::DType::BF16 => {
                type $t = f32;
                let $cast = |t: &$crate::FlexTensor| {
                    $crate::ops::module::cast_to_f32(t.clone(), burn_std::bf16::to_f32)
                };
                let $back = |t: $crate::FlexTensor| {
                    $crate::ops::module::cast_from_f32(t, burn_std::bf16::from_f32)
                };
                $body
            }
            dtype => panic!("{}: unsupported dtype {dtype:?}", $op),
        }
    };
}
pub(crate) use by_dtype;
