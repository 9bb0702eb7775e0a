//! Statistics of the fp32 graph's intermediate tensors, run through tract on a few hundred
//! training images (the graph built with those tensors exposed as outputs):
//!
//! * activation ranges for static int8 ([`calibrate`]): min/max or a high percentile that
//!   ignores rare outliers;
//! * per-channel means and variances of each convolution's output before its ReLU
//!   ([`channel_moments`]): what re-expanding a folded BatchNorm for training needs
//!   ([`super::read_back`]).

use std::collections::HashMap;
use std::str::FromStr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
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
#[derive(Debug)]
struct Collector {
    min: f32,
    max: f32,
    samples: Vec<f32>,
    /// Picks the sampled positions; seeded, so an export is reproducible.
    rng: ChaCha8Rng,
}

impl Default for Collector {
    fn default() -> Self {
        Collector {
            min: 0.0,
            max: 0.0,
            samples: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(SAMPLE_SEED),
        }
    }
}

/// How many values per tensor per image are kept for percentiles.
const SAMPLES_PER_IMAGE: usize = 512;
/// Seed of the sampled positions.
const SAMPLE_SEED: u64 = 0x5a4d_504c;

impl Collector {
    /// Takes in one image's tensor: its extremes, and [`SAMPLES_PER_IMAGE`] values at random
    /// positions (all of them when there are fewer). The positions are random, not evenly
    /// strided: a `[C, H, W]` tensor is laid out channel by channel, and a stride that is a
    /// multiple of the width (as `len / 512` is for every tensor of this network) samples a
    /// single column, the border one that each 3x3 convolution reads half padding for.
    fn add(&mut self, values: &[f32]) {
        for &v in values {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        if values.len() <= SAMPLES_PER_IMAGE {
            self.samples.extend_from_slice(values);
        } else {
            let rng = &mut self.rng;
            self.samples
                .extend((0..SAMPLES_PER_IMAGE).map(|_| values[rng.random_range(0..values.len())]));
        }
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

/// Runs `graph` on each input, one image at a time, and hands every graph output to `sink`
/// as (output index, shape, values).
fn run_each(
    graph: &[u8],
    chw: [usize; 3],
    inputs: &[Vec<f32>],
    mut sink: impl FnMut(usize, &[usize], &[f32]),
) -> Result<(), ExportError> {
    if inputs.is_empty() {
        return Err(ExportError::NoCalibrationData);
    }
    let err = |e: TractError| ExportError::Tract(format!("{e:#}"));
    let model = artifacts::onnx::load_plan(graph, chw).map_err(err)?;
    for input in inputs {
        let tensor = Tensor::from_shape(&[1, chw[0], chw[1], chw[2]], input).map_err(err)?;
        let outputs = model.run(tvec!(tensor.into())).map_err(err)?;
        for (index, out) in outputs.iter().enumerate() {
            let view = out.try_as_plain_ram().and_then(|v| v.as_slice::<f32>()).map_err(err)?;
            sink(index, out.shape(), view);
        }
    }
    Ok(())
}

/// The graph outputs of an exposed graph in order: logits first, then `names` without logits.
fn output_order(names: &[String]) -> Vec<String> {
    let mut order = vec![super::float_graph::LOGITS.to_string()];
    order.extend(
        names
            .iter()
            .filter(|n| n.as_str() != super::float_graph::LOGITS)
            .cloned(),
    );
    order
}

/// The range of every named activation, keyed by tensor name.
pub type Ranges = HashMap<String, (f32, f32)>;

/// Runs the exposed-activation fp32 graph on each input and returns the range of every
/// named activation (graph outputs in order: logits first, then `names` without logits).
pub fn calibrate(
    graph: &[u8],
    chw: [usize; 3],
    names: &[String],
    inputs: &[Vec<f32>],
    method: Calibration,
) -> Result<Ranges, ExportError> {
    let mut all = calibrate_prefixes(graph, chw, names, inputs, method, &[inputs.len()])?;
    Ok(all.remove(0))
}

/// [`calibrate`] on the first `n` inputs for each `n` in `counts`, in one pass over the
/// inputs: the ranges as they stood after `n` images, in the order of `counts` (each at most
/// `inputs.len()`).
pub fn calibrate_prefixes(
    graph: &[u8],
    chw: [usize; 3],
    names: &[String],
    inputs: &[Vec<f32>],
    method: Calibration,
    counts: &[usize],
) -> Result<Vec<Ranges>, ExportError> {
    if inputs.is_empty() {
        return Err(ExportError::NoCalibrationData);
    }
    if let Some(&asked) = counts.iter().find(|&&n| n == 0 || n > inputs.len()) {
        return Err(ExportError::CalibrationCount {
            asked,
            available: inputs.len(),
        });
    }
    let order = output_order(names);
    let mut collectors: Vec<Collector> = order.iter().map(|_| Collector::default()).collect();
    let mut snapshots: HashMap<usize, Ranges> = HashMap::new();
    let mut images = 0;
    run_each(graph, chw, inputs, |index, _, values| {
        if let Some(c) = collectors.get_mut(index) {
            c.add(values);
        }
        if index + 1 == order.len() {
            images += 1;
            if counts.contains(&images) {
                let ranges = order
                    .iter()
                    .cloned()
                    .zip(collectors.iter_mut().map(|c| c.range(method)))
                    .collect();
                snapshots.insert(images, ranges);
            }
        }
    })?;
    Ok(counts.iter().map(|n| snapshots[n].clone()).collect())
}

/// Per-channel mean and (population) variance of an `[N, C, H, W]` tensor over images and
/// positions.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelMoments {
    /// Mean, one per channel.
    pub mean: Vec<f32>,
    /// Variance, one per channel.
    pub var: Vec<f32>,
}

/// Sums of one tensor's channels, in f64 so a few hundred images of 48x48 lose nothing.
#[derive(Debug, Default)]
struct MomentSums {
    count: Vec<f64>,
    sum: Vec<f64>,
    squares: Vec<f64>,
}

impl MomentSums {
    fn add(&mut self, shape: &[usize], values: &[f32]) {
        let channels = shape.get(1).copied().unwrap_or(1).max(1);
        let plane = values.len() / channels;
        if self.sum.len() != channels {
            *self = MomentSums {
                count: vec![0.0; channels],
                sum: vec![0.0; channels],
                squares: vec![0.0; channels],
            };
        }
        // Batch 1: the channel planes are consecutive.
        for (c, plane_values) in values.chunks_exact(plane.max(1)).enumerate().take(channels) {
            self.count[c] += plane_values.len() as f64;
            self.sum[c] += plane_values.iter().map(|&v| f64::from(v)).sum::<f64>();
            self.squares[c] += plane_values.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>();
        }
    }

    fn moments(&self) -> ChannelMoments {
        let (mean, var) = self
            .count
            .iter()
            .zip(&self.sum)
            .zip(&self.squares)
            .map(|((&n, &s), &q)| {
                let mean = s / n.max(1.0);
                let var = (q / n.max(1.0) - mean * mean).max(0.0);
                (mean as f32, var as f32)
            })
            .unzip();
        ChannelMoments { mean, var }
    }
}

/// Runs an exposed fp32 graph on each input and returns the per-channel moments of every
/// named output (graph outputs in order: logits first, then `names` without logits).
pub fn channel_moments(
    graph: &[u8],
    chw: [usize; 3],
    names: &[String],
    inputs: &[Vec<f32>],
) -> Result<HashMap<String, ChannelMoments>, ExportError> {
    let order = output_order(names);
    let mut sums: Vec<MomentSums> = order.iter().map(|_| MomentSums::default()).collect();
    run_each(graph, chw, inputs, |index, shape, values| {
        if let Some(s) = sums.get_mut(index) {
            s.add(shape, values);
        }
    })?;
    Ok(order.into_iter().zip(sums.iter().map(MomentSums::moments)).collect())
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

    /// A tensor whose left column is 0 and every other value 1, laid out like conv1's
    /// `[32, 48, 48]` output: the percentiles must see the whole map, not one column.
    #[test]
    fn percentiles_sample_every_column() {
        let (channels, width) = (32, 48);
        let values: Vec<f32> = (0..channels * width * width)
            .map(|i| if i % width == 0 { 0.0 } else { 1.0 })
            .collect();
        let collect = || {
            let mut c = Collector::default();
            (0..4).for_each(|_| c.add(&values));
            c
        };
        let mut c = collect();
        assert!(c.samples == collect().samples, "the same images give the same samples");
        let ones = c.samples.iter().filter(|&&v| v == 1.0).count() as f64 / c.samples.len() as f64;
        assert!((ones - 47.0 / 48.0).abs() < 0.02, "share of interior samples {ones}");
        assert_eq!(c.range(Calibration::Percentile(99.0)), (0.0, 1.0));
    }

    #[test]
    fn prefixes_match_separate_calibrations() {
        let net = super::super::FoldedNetwork::random(&shared::arch::Architecture::paper(7), 3).unwrap();
        let (graph, names) = super::super::float_graph::build(&net, super::super::Exposed::Activations);
        let inputs: Vec<Vec<f32>> = (0..6)
            .map(|i| (0..48 * 48).map(|p| ((p * 31 + i * 97) % 256) as f32 / 255.0).collect())
            .collect();
        let chw = net.input_chw;
        let method = Calibration::MinMax;
        let prefixes = calibrate_prefixes(&graph, chw, &names, &inputs, method, &[6, 2]).unwrap();
        assert_eq!(prefixes[0], calibrate(&graph, chw, &names, &inputs, method).unwrap());
        assert_eq!(
            prefixes[1],
            calibrate(&graph, chw, &names, &inputs[..2], method).unwrap()
        );
        assert_ne!(prefixes[0], prefixes[1]);
        assert!(calibrate_prefixes(&graph, chw, &names, &inputs, method, &[7]).is_err());
    }
}
