//! The TensorFlow Lite backend's tensor conventions: which input shapes it feeds, how int8 /
//! uint8 tensors are (de)quantised and how the model's output becomes probabilities.
//!
//! This is kept apart from the FFI glue in `tflite.rs` (feature `tflite`) so that it is
//! compiled and unit-tested in every build: the backend itself cannot be built on CI (it
//! links a TensorFlow Lite C library, which cannot be built offline), and this arithmetic is
//! where a backend goes wrong without failing (a wrong zero point or a double softmax still
//! yields seven plausible numbers).
//!
//! * **Input**: one tensor of shape `[1, 48, 48, 1]` (NHWC, what TensorFlow and onnx2tf
//!   write) or `[1, 1, 48, 48]` (NCHW). With one channel both hold the 48x48 face row-major,
//!   so the normalised face is copied as it is.
//! * **Quantised tensors** (int8 or uint8) use TFLite's per-tensor affine quantisation,
//!   `real = scale * (q - zero_point)`: the face is quantised with round-to-nearest and
//!   saturation, the output dequantised, both with the parameters the model file carries.
//! * **Output**: seven values in [`shared::Emotion::ALL`] order (the manifest's labels are
//!   checked to be exactly that). The manifest does not say whether the graph ends in a
//!   softmax, so the values decide, on every frame:
//!   - a quantised output with TFLite's fixed softmax-output quantisation (scale 1/256, zero
//!     point -128 for int8 or 0 for uint8; the converter forces it on every Softmax output)
//!     holds probabilities up to rounding: they are divided by their sum;
//!   - values that already form a probability vector (each in 0..=1, summing to 1 within
//!     [`PROBABILITY_SUM_TOLERANCE`]) are taken as they are: a float softmax output;
//!   - anything else is taken as logits and passed through a softmax.
//!
//!   A logits vector would have to consist of seven values in 0..=1 summing to 1 within
//!   1e-3 to be mistaken for probabilities; the two readings also agree on the top class,
//!   which is what the policy's thresholds are applied to.
//! * **Temperature**: the scores are those of `softmax(logits / t)` with the manifest's
//!   temperature `t`, as on the tract backend, so the policy's thresholds act on the
//!   calibrated probabilities the temperature was fitted for. Logits are divided by `t`;
//!   probabilities `p` become `p^(1/t)` renormalised, which is the same for `p =
//!   softmax(logits)`.

use shared::labels::softmax_at;
use shared::{INPUT_SIZE, NUM_CLASSES};

/// How far from 1 the sum of a float output may be for it to be taken as probabilities.
pub const PROBABILITY_SUM_TOLERANCE: f32 = 1e-3;

/// Whether `dims` is a face input this runtime can feed: `[1, 48, 48, 1]` or `[1, 1, 48, 48]`.
pub fn is_face_input_shape(dims: &[usize]) -> bool {
    dims == [1, INPUT_SIZE, INPUT_SIZE, 1] || dims == [1, 1, INPUT_SIZE, INPUT_SIZE]
}

/// Whether `dims` holds exactly one value per class (`[1, 7]`, `[7]`, `[1, 1, 7]`, ...).
pub fn is_class_output_shape(dims: &[usize]) -> bool {
    !dims.is_empty() && dims.iter().product::<usize>() == NUM_CLASSES
}

/// The element type of a quantised tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantType {
    /// Signed 8-bit.
    Int8,
    /// Unsigned 8-bit.
    UInt8,
}

impl QuantType {
    fn range(self) -> (i32, i32) {
        match self {
            QuantType::Int8 => (i8::MIN.into(), i8::MAX.into()),
            QuantType::UInt8 => (u8::MIN.into(), u8::MAX.into()),
        }
    }
}

/// Quantisation parameters a tensor cannot be read with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuantParamsError {
    /// A scale that is zero, negative or not finite.
    #[error("quantisation scale {0} is not a positive number")]
    Scale(f32),
    /// A zero point outside the element type's range.
    #[error("zero point {zero_point} is outside the {ty:?} range {lo}..={hi}")]
    ZeroPoint {
        /// The zero point.
        zero_point: i32,
        /// The element type.
        ty: QuantType,
        /// Its smallest value.
        lo: i32,
        /// Its largest value.
        hi: i32,
    },
}

/// A model output that cannot be turned into probabilities.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OutputValuesError {
    /// Not one value per class.
    #[error("model produced {0} values, expected {NUM_CLASSES}")]
    Count(usize),
    /// A NaN or infinite value.
    #[error("model produced the non-finite value {value} in {values:?}")]
    NonFinite {
        /// The first such value.
        value: f32,
        /// All of them.
        values: [f32; NUM_CLASSES],
    },
    /// A quantised softmax output with a negative value or nothing above zero.
    #[error("quantised softmax output {0:?} is not a distribution")]
    NotADistribution([f32; NUM_CLASSES]),
}

/// Per-tensor affine quantisation of an int8 or uint8 tensor: `real = scale * (q - zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    ty: QuantType,
    scale: f32,
    zero_point: i32,
}

impl Affine {
    /// Checks a tensor's parameters: the scale must be finite and positive and the zero
    /// point representable in the element type.
    pub fn new(ty: QuantType, scale: f32, zero_point: i32) -> Result<Self, QuantParamsError> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(QuantParamsError::Scale(scale));
        }
        let (lo, hi) = ty.range();
        if !(lo..=hi).contains(&zero_point) {
            return Err(QuantParamsError::ZeroPoint { zero_point, ty, lo, hi });
        }
        Ok(Affine { ty, scale, zero_point })
    }

    /// The element type.
    pub fn ty(&self) -> QuantType {
        self.ty
    }

    /// Whether these are the parameters TFLite gives every quantised Softmax output
    /// (scale 1/256; zero point -128 for int8, 0 for uint8), i.e. the tensor holds
    /// probabilities in steps of 1/256.
    pub fn is_softmax_output(&self) -> bool {
        let zero_point = match self.ty {
            QuantType::Int8 => -128,
            QuantType::UInt8 => 0,
        };
        self.scale == 1.0 / 256.0 && self.zero_point == zero_point
    }

    /// `real / scale + zero_point`, rounded to nearest and saturated to the element range
    /// (a non-finite value maps to the zero point's side of the range, never a panic).
    fn quantize(&self, real: f32) -> i32 {
        let (lo, hi) = self.ty.range();
        let q = (real / self.scale).round() + self.zero_point as f32;
        // `as` saturates and maps NaN to 0; the clamp then keeps it in range.
        (q as i32).clamp(lo, hi)
    }

    fn dequantize(&self, q: i32) -> f32 {
        self.scale * (q - self.zero_point) as f32
    }

    /// Quantises `real` into an int8 tensor buffer (element by element over the shorter of
    /// the two; callers pass equal lengths).
    pub fn quantize_i8(&self, real: &[f32], out: &mut [i8]) {
        for (o, &r) in out.iter_mut().zip(real) {
            // In range by construction (clamped to the Int8 range or narrower).
            *o = i8::try_from(self.quantize(r)).unwrap_or(0);
        }
    }

    /// Quantises `real` into a uint8 tensor buffer.
    pub fn quantize_u8(&self, real: &[f32], out: &mut [u8]) {
        for (o, &r) in out.iter_mut().zip(real) {
            *o = u8::try_from(self.quantize(r)).unwrap_or(0);
        }
    }

    /// Dequantises an int8 output tensor.
    pub fn dequantize_i8(&self, q: &[i8]) -> Vec<f32> {
        q.iter().map(|&v| self.dequantize(v.into())).collect()
    }

    /// Dequantises a uint8 output tensor.
    pub fn dequantize_u8(&self, q: &[u8]) -> Vec<f32> {
        q.iter().map(|&v| self.dequantize(v.into())).collect()
    }
}

/// Turns one output (already dequantised) into probabilities at the manifest's
/// `temperature` (positive, checked at load), following the module's rules.
/// `softmax_quantized` is [`Affine::is_softmax_output`] of a quantised output, else false.
pub fn output_probabilities(
    values: &[f32],
    softmax_quantized: bool,
    temperature: f32,
) -> Result<[f32; NUM_CLASSES], OutputValuesError> {
    let values: [f32; NUM_CLASSES] = values.try_into().map_err(|_| OutputValuesError::Count(values.len()))?;
    if let Some(&value) = values.iter().find(|v| !v.is_finite()) {
        return Err(OutputValuesError::NonFinite { value, values });
    }
    if softmax_quantized {
        let sum: f32 = values.iter().sum();
        if values.iter().any(|&v| v < 0.0) || sum <= 0.0 {
            return Err(OutputValuesError::NotADistribution(values));
        }
        return Ok(at_temperature(values.map(|v| v / sum), temperature));
    }
    let sum: f32 = values.iter().sum();
    if values.iter().all(|v| (0.0..=1.0).contains(v)) && (sum - 1.0).abs() <= PROBABILITY_SUM_TOLERANCE {
        return Ok(at_temperature(values, temperature));
    }
    Ok(softmax_at(&values, temperature))
}

/// The probabilities `p` at temperature `t`: `p^(1/t)` renormalised, i.e. the softmax of
/// `ln p` at `t` (a zero stays zero; `p` holds at least one positive value); `p` itself at
/// `t = 1`.
fn at_temperature(p: [f32; NUM_CLASSES], t: f32) -> [f32; NUM_CLASSES] {
    if t == 1.0 {
        return p;
    }
    softmax_at(&p.map(f32::ln), t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::check_probabilities;

    #[test]
    fn accepted_shapes() {
        assert!(is_face_input_shape(&[1, 48, 48, 1]));
        assert!(is_face_input_shape(&[1, 1, 48, 48]));
        assert!(!is_face_input_shape(&[1, 48, 48, 3]));
        assert!(!is_face_input_shape(&[48, 48]));
        assert!(!is_face_input_shape(&[2, 48, 48, 1]));
        assert!(is_class_output_shape(&[1, 7]));
        assert!(is_class_output_shape(&[7]));
        assert!(!is_class_output_shape(&[1, 8]));
        assert!(!is_class_output_shape(&[]));
    }

    #[test]
    fn parameters_are_checked() {
        assert!(Affine::new(QuantType::Int8, 0.0, 0).is_err());
        assert!(Affine::new(QuantType::Int8, f32::NAN, 0).is_err());
        assert!(Affine::new(QuantType::Int8, -0.1, 0).is_err());
        assert!(Affine::new(QuantType::Int8, 0.1, 128).is_err());
        assert_eq!(
            Affine::new(QuantType::Int8, 0.0, 0).unwrap_err().to_string(),
            "quantisation scale 0 is not a positive number"
        );
        assert_eq!(
            Affine::new(QuantType::Int8, 0.1, 128).unwrap_err().to_string(),
            "zero point 128 is outside the Int8 range -128..=127"
        );
        assert!(Affine::new(QuantType::UInt8, 0.1, -1).is_err());
        assert!(Affine::new(QuantType::UInt8, 0.1, 255).is_ok());
    }

    #[test]
    fn int8_quantisation_rounds_saturates_and_round_trips() {
        // Values away from rounding ties, so the expectation does not hang on float error.
        let q = Affine::new(QuantType::Int8, 0.01, -3).unwrap();
        let real = [-1.0, 0.0, 0.5, 0.994, 3.0, -3.0, f32::NAN];
        let mut out = [0i8; 7];
        q.quantize_i8(&real, &mut out);
        assert_eq!(out, [-103, -3, 47, 96, 127, -128, 0]);
        let back = q.dequantize_i8(&out[..4]);
        for (b, r) in back.iter().zip(&real[..4]) {
            assert!((b - r).abs() <= 0.5 * 0.01 + 1e-6, "{b} vs {r}");
        }
    }

    #[test]
    fn uint8_quantisation_uses_the_zero_point() {
        let q = Affine::new(QuantType::UInt8, 1.0 / 255.0, 0).unwrap();
        let mut out = [0u8; 4];
        q.quantize_u8(&[0.0, 1.0, -0.5, 0.25], &mut out);
        assert_eq!(out, [0, 255, 0, 64]);
        let q = Affine::new(QuantType::UInt8, 0.5, 10).unwrap();
        assert_eq!(q.dequantize_u8(&[10, 12, 0]), vec![0.0, 1.0, -5.0]);
    }

    #[test]
    fn softmax_output_quantisation_is_recognised() {
        assert!(
            Affine::new(QuantType::Int8, 1.0 / 256.0, -128)
                .unwrap()
                .is_softmax_output()
        );
        assert!(
            Affine::new(QuantType::UInt8, 1.0 / 256.0, 0)
                .unwrap()
                .is_softmax_output()
        );
        assert!(
            !Affine::new(QuantType::Int8, 1.0 / 256.0, 0)
                .unwrap()
                .is_softmax_output()
        );
        assert!(!Affine::new(QuantType::Int8, 0.05, -128).unwrap().is_softmax_output());
    }

    #[test]
    fn quantised_softmax_output_is_renormalised() {
        // Seven probabilities in 1/256 steps whose sum is off by rounding (250/256).
        let q = Affine::new(QuantType::Int8, 1.0 / 256.0, -128).unwrap();
        let raw: [i8; 7] = [72, -118, -118, -118, -118, -118, -128];
        let values = q.dequantize_i8(&raw);
        let p = output_probabilities(&values, true, 1.0).unwrap();
        check_probabilities(&p).unwrap();
        assert!((p[0] - 200.0 / 250.0).abs() < 1e-6);
        assert_eq!(p[6], 0.0);
        assert_eq!(
            output_probabilities(&[0.0; 7], true, 1.0),
            Err(OutputValuesError::NotADistribution([0.0; 7]))
        );
    }

    #[test]
    fn float_probabilities_pass_and_logits_get_a_softmax() {
        let probs = [0.7, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05];
        assert_eq!(output_probabilities(&probs, false, 1.0).unwrap(), probs);
        let logits = [2.0, -1.0, 0.5, 0.0, 0.0, 0.0, -3.0];
        let p = output_probabilities(&logits, false, 1.0).unwrap();
        assert_eq!(p, softmax_at(&logits, 1.0));
        check_probabilities(&p).unwrap();
        // In 0..=1 but not summing to 1: logits, not probabilities.
        let p = output_probabilities(&[0.5; 7], false, 1.0).unwrap();
        assert!((p[0] - 1.0 / 7.0).abs() < 1e-6);
    }

    /// Every reading of the output gives the tract backend's `softmax(logits / t)`: a
    /// TFLite model converted from the ONNX export keeps its calibration.
    #[test]
    fn the_manifest_temperature_applies_to_logits_and_probabilities() {
        let logits = [2.0, -1.0, 0.5, 0.0, 0.3, -0.2, -3.0];
        for t in [0.5_f32, 0.695, 2.0] {
            let want = softmax_at(&logits, t);
            let close = |p: [f32; 7], tol: f32| {
                check_probabilities(&p).unwrap();
                assert!(
                    p.iter().zip(&want).all(|(a, b)| (a - b).abs() < tol),
                    "t {t}: {p:?} vs {want:?}"
                );
            };
            close(output_probabilities(&logits, false, t).unwrap(), 1e-6);
            close(output_probabilities(&softmax_at(&logits, 1.0), false, t).unwrap(), 1e-5);
            // TFLite's quantised softmax output: 1/256 steps, so agreement to a few steps.
            let q = Affine::new(QuantType::Int8, 1.0 / 256.0, -128).unwrap();
            let raw: Vec<i8> = softmax_at(&logits, 1.0)
                .iter()
                .map(|&p| (p * 256.0 - 128.0).round().min(127.0) as i8)
                .collect();
            close(output_probabilities(&q.dequantize_i8(&raw), true, t).unwrap(), 0.02);
            let untempered = softmax_at(&logits, 1.0);
            assert_eq!(
                output_probabilities(&logits, false, t).unwrap()[0] > untempered[0],
                t < 1.0,
                "a temperature below 1 sharpens, above 1 softens"
            );
        }
        // Tiny probabilities at a low temperature: still a distribution, nothing underflows.
        let p = output_probabilities(&[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], false, 0.01).unwrap();
        assert_eq!(p[0], 1.0);
        let p = output_probabilities(&[0.2, 0.2, 0.1, 0.1, 0.1, 0.1, 0.2], false, 0.01).unwrap();
        check_probabilities(&p).unwrap();
    }

    #[test]
    fn bad_outputs_are_errors() {
        let e = output_probabilities(&[0.1; 6], false, 1.0).unwrap_err();
        assert_eq!(e, OutputValuesError::Count(6));
        assert!(e.to_string().contains("6 values"), "{e}");
        let mut v = [0.0; 7];
        v[2] = f32::INFINITY;
        let e = output_probabilities(&v, false, 1.0).unwrap_err();
        assert!(matches!(e, OutputValuesError::NonFinite { .. }), "{e}");
        assert!(e.to_string().contains("non-finite value inf"), "{e}");
    }
}
