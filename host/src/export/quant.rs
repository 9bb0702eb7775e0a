//! Int8 quantisation arithmetic: activation parameters from calibrated ranges, symmetric
//! weights (one scale per output channel or one per tensor), int32 biases.

use std::str::FromStr;

/// Affine int8 activation parameters: `real = scale * (q - zero_point)`.
///
/// Nearly every activation follows a ReLU, so `[0, max]` maps onto all 256 levels with zero
/// point -128 and saturation performs the ReLU. (uint8 with zero point 0 was measured too:
/// tract converts it to int8 with an extra op per layer, so int8 is both standard and faster.)
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantParams {
    /// Step between adjacent quantised values.
    pub scale: f32,
    /// The quantised value that represents 0.0.
    pub zero_point: i8,
}

impl QuantParams {
    /// Parameters covering `[min, max]` (widened to include 0, so a ReLU output has zero
    /// point -128 and saturation itself performs the ReLU).
    pub fn from_range(min: f32, max: f32) -> Self {
        let min = min.min(0.0);
        let max = max.max(0.0).max(min + 1e-6);
        let scale = (max - min) / 255.0;
        let zero_point = (-128.0 - min / scale).round().clamp(-128.0, 127.0) as i8;
        QuantParams { scale, zero_point }
    }

    /// Quantises one value (round half away from zero, as `f32::round`; saturating).
    pub fn quantize(&self, v: f32) -> i8 {
        (v / self.scale + self.zero_point as f32).round().clamp(-128.0, 127.0) as i8
    }

    /// Dequantises one value.
    pub fn dequantize(&self, q: i8) -> f32 {
        self.scale * (q as f32 - self.zero_point as f32)
    }
}

/// How many scales a layer's int8 weights get.
///
/// Per channel is the accurate choice. Per tensor is the fast one in tract 0.23: with one
/// scale the whole requantisation (scale, zero point, clamp, cast) fuses into the integer
/// matrix product's store, while a per-channel scale vector stays a separate op and blocks
/// the rest, four extra passes over every int32 output (half of the int8 inference time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightScales {
    /// One scale per output channel.
    PerChannel,
    /// One scale per layer.
    PerTensor,
}

impl WeightScales {
    /// Name used on the command line and in the manifest.
    pub fn name(&self) -> &'static str {
        match self {
            WeightScales::PerChannel => "per-channel",
            WeightScales::PerTensor => "per-tensor",
        }
    }
}

impl FromStr for WeightScales {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "per-channel" => Ok(WeightScales::PerChannel),
            "per-tensor" => Ok(WeightScales::PerTensor),
            _ => Err(format!("weight scales {s:?}: use per-channel or per-tensor")),
        }
    }
}

/// Symmetric int8 weights (`[-127, 127]`, zero point 0).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedWeights {
    /// Weights in the original layout.
    pub values: Vec<i8>,
    /// One scale per output channel (all equal for [`WeightScales::PerTensor`]).
    pub scales: Vec<f32>,
}

/// Quantises `[out, ...]` weights with one scale per output channel or one for all.
pub fn quantize_weights(weight: &[f32], out_channels: usize, mode: WeightScales) -> QuantizedWeights {
    let per = weight.len() / out_channels.max(1);
    let abs_max = |w: &[f32]| w.iter().fold(0f32, |m, v| m.max(v.abs()));
    let tensor_max = abs_max(weight);
    let mut values = Vec::with_capacity(weight.len());
    let mut scales = Vec::with_capacity(out_channels);
    for chunk in weight.chunks(per.max(1)).take(out_channels) {
        let max = match mode {
            WeightScales::PerChannel => abs_max(chunk),
            WeightScales::PerTensor => tensor_max,
        };
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        values.extend(chunk.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8));
        scales.push(scale);
    }
    QuantizedWeights { values, scales }
}

/// Int32 biases in the accumulator's scale (`input_scale * weight_scale[c]`).
pub fn quantize_bias(bias: &[f32], input_scale: f32, weight_scales: &[f32]) -> Vec<i32> {
    bias.iter()
        .zip(weight_scales)
        .map(|(b, s)| (b / (input_scale * s)).round().clamp(i32::MIN as f32, i32::MAX as f32) as i32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_range_puts_zero_at_minus_128() {
        let q = QuantParams::from_range(0.0, 2.55);
        assert_eq!(q.zero_point, -128);
        assert!((q.scale - 0.01).abs() < 1e-7);
        assert_eq!(q.quantize(-1.0), -128, "negatives saturate: the ReLU");
        assert_eq!(q.quantize(2.55), 127);
        let logits = QuantParams::from_range(-1.0, 3.0);
        assert_eq!(logits.zero_point, -64);
        assert_eq!(logits.dequantize(logits.quantize(0.0)), 0.0);
        assert!((q.dequantize(q.quantize(1.234)) - 1.234).abs() <= q.scale / 2.0 + 1e-6);
    }

    #[test]
    fn input_pixels_are_exact() {
        // Pixels p/255 quantise exactly with range [0, 1].
        let q = QuantParams::from_range(0.0, 1.0);
        for p in [0u8, 1, 77, 254, 255] {
            assert_eq!(q.quantize(p as f32 / 255.0) as i32, p as i32 - 128);
        }
    }

    #[test]
    fn weights_are_per_channel_symmetric() {
        let w = [0.5, -1.0, 0.25, 0.02, -0.011, 0.0];
        let q = quantize_weights(&w, 2, WeightScales::PerChannel);
        assert_eq!(q.values[..3], [64, -127, 32]);
        assert_eq!(q.values[3..], [127, -70, 0]);
        assert!((q.scales[1] - 0.02 / 127.0).abs() < 1e-9);
        assert_eq!(quantize_bias(&[1.0], 0.5, &[0.25]), [8]);
    }

    #[test]
    fn per_tensor_weights_share_the_largest_magnitude() {
        let w = [0.5, -1.0, 0.25, 0.02, -0.011, 0.0];
        let q = quantize_weights(&w, 2, WeightScales::PerTensor);
        assert_eq!(q.values, [64, -127, 32, 3, -1, 0]);
        assert_eq!(q.scales, [1.0 / 127.0, 1.0 / 127.0]);
        assert_eq!("per-tensor".parse(), Ok(WeightScales::PerTensor));
        assert_eq!("per-channel".parse(), Ok(WeightScales::PerChannel));
        assert!("per-row".parse::<WeightScales>().is_err());
    }
}
