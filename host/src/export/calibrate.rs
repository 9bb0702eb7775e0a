//! Activation-range calibration for static int8: run the fp32 graph (with every activation
//! exposed as an output) through tract on a few hundred training images and record each
//! tensor's range, either min/max or a high percentile that ignores rare outliers.

use std::collections::HashMap;
use std::str::FromStr;

use tract_onnx::prelude::*;

use super::ExportError;

/// How a tensor's range is taken from the calibration values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Calibration {
    /// Smallest and largest value seen.
    MinMax,
    /// The given percentile (e.g. 99.99) of the values at each end.
    Percentile(f32),
}

impl Calibration {
    /// Name recorded in the manifest.
    pub fn name(&self) -> String {
        match self {
            Calibration::MinMax => "minmax".into(),
            Calibration::Percentile(p) => format!("percentile-{p}"),
        }
    }
}

impl FromStr for Calibration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "minmax" => Ok(Calibration::MinMax),
            _ => s
                .strip_prefix("percentile-")
                .and_then(|p| p.parse::<f32>().ok())
                .filter(|p| (50.0..=100.0).contains(p))
                .map(Calibration::Percentile)
                .ok_or_else(|| format!("calibration {s:?}: use minmax or percentile-<50..100>, e.g. percentile-99.99")),
        }
    }
}

/// Values of one tensor seen during calibration.
#[derive(Debug, Default)]
struct Collector {
    min: f32,
    max: f32,
    samples: Vec<f32>,
}

/// How many values per tensor per image are kept for percentiles (evenly strided).
const SAMPLES_PER_IMAGE: usize = 512;

impl Collector {
    fn add(&mut self, values: &[f32]) {
        for &v in values {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        let step = (values.len() / SAMPLES_PER_IMAGE).max(1);
        self.samples.extend(values.iter().step_by(step));
    }

    fn range(&mut self, method: Calibration) -> (f32, f32) {
        match method {
            Calibration::MinMax => (self.min, self.max),
            Calibration::Percentile(p) => {
                self.samples.sort_by(f32::total_cmp);
                let n = self.samples.len();
                if n == 0 {
                    return (self.min, self.max);
                }
                let at = |q: f32| self.samples[((q / 100.0 * (n - 1) as f32).round() as usize).min(n - 1)];
                (at(100.0 - p), at(p))
            }
        }
    }
}

/// Runs the exposed-activation fp32 graph on each input and returns the range of every
/// named activation (graph outputs in order: logits first, then `names` without logits).
pub fn calibrate(
    graph: &[u8],
    chw: [usize; 3],
    names: &[String],
    inputs: &[Vec<f32>],
    method: Calibration,
) -> Result<HashMap<String, (f32, f32)>, ExportError> {
    if inputs.is_empty() {
        return Err(ExportError::NoCalibrationData);
    }
    let model = artifacts::onnx::load_plan(graph, chw).map_err(|e| ExportError::Tract(format!("{e:#}")))?;
    let mut order = vec![super::float_graph::LOGITS.to_string()];
    order.extend(
        names
            .iter()
            .filter(|n| n.as_str() != super::float_graph::LOGITS)
            .cloned(),
    );
    let mut collectors: Vec<Collector> = order.iter().map(|_| Collector::default()).collect();
    for input in inputs {
        let tensor = Tensor::from_shape(&[1, chw[0], chw[1], chw[2]], input)
            .map_err(|e| ExportError::Tract(format!("{e:#}")))?;
        let outputs = model
            .run(tvec!(tensor.into()))
            .map_err(|e| ExportError::Tract(format!("{e:#}")))?;
        for (collector, out) in collectors.iter_mut().zip(outputs.iter()) {
            let view = out
                .try_as_plain_ram()
                .and_then(|v| v.as_slice::<f32>())
                .map_err(|e| ExportError::Tract(format!("{e:#}")))?;
            collector.add(view);
        }
    }
    Ok(order
        .into_iter()
        .zip(collectors.iter_mut().map(|c| c.range(method)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_methods() {
        assert_eq!("minmax".parse(), Ok(Calibration::MinMax));
        assert_eq!("percentile-99.9".parse(), Ok(Calibration::Percentile(99.9)));
        assert!("percentile-101".parse::<Calibration>().is_err());
        assert!("entropy".parse::<Calibration>().is_err());
    }

    #[test]
    fn percentile_ignores_outliers() {
        let mut c = Collector::default();
        let mut values: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        values.push(100.0);
        c.add(&values);
        assert_eq!(c.range(Calibration::MinMax), (0.0, 100.0));
        let (_, hi) = c.range(Calibration::Percentile(99.0));
        assert!(hi < 1.0, "{hi}");
    }
}
