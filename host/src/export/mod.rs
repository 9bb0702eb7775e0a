//! `host export`: trained weights -> fp32 and static-int8 ONNX models plus manifests.
//!
//! burn has no ONNX exporter, so the graph is written here from the folded weights
//! ([`folded`]) and the shared architecture, with the protobuf types of tract-onnx
//! ([`onnx`]). The fp32 graph ([`float_graph`]) doubles as the calibration graph
//! ([`calibrate`]); the int8 graph ([`int8_graph`]) uses only standard ONNX integer ops
//! (QuantizeLinear, QLinearConv, MaxPool, Concat, DequantizeLinear) that tract executes with
//! integer kernels and onnxruntime also runs.

pub mod calibrate;
pub mod float_graph;
pub mod folded;
pub mod int8_graph;
pub mod onnx;
pub mod parity;
pub mod quant;
pub mod read_back;
pub mod views;

use std::path::PathBuf;

use shared::wire::{ModelManifest, Quantization};

pub use calibrate::Calibration;
pub use float_graph::Exposed;
pub use folded::FoldedNetwork;
pub use quant::WeightScales;
pub use views::Views;

/// Export failures.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A tensor had no calibrated range.
    #[error("no calibrated range for tensor {0}")]
    MissingRange(String),
    /// Calibration got no images.
    #[error("calibration needs at least one image")]
    NoCalibrationData,
    /// Ranges were asked after more images than calibration has (or after none).
    #[error("ranges after {asked} images asked of {available} calibration images")]
    CalibrationCount {
        /// Images asked for.
        asked: usize,
        /// Calibration images given.
        available: usize,
    },
    /// Weights and architecture disagree.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A layer's output shape cannot be inferred from its input.
    #[error(transparent)]
    Arch(#[from] shared::arch::ArchError),
    /// tract failed to load or run a graph.
    #[error("tract: {0}")]
    Tract(String),
    /// An ONNX model is not an int8 model of this architecture written by the exporter.
    #[error("reading {model} back: {why}")]
    ReadBack {
        /// The model (a path, or a description).
        model: String,
        /// What did not match.
        why: String,
    },
    /// Writing a file failed.
    #[error("writing {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A model would be replaced without `overwrite`.
    #[error("{} exists; pass --force to replace it (and its manifest)", .0.display())]
    Exists(PathBuf),
    /// The model and manifest could not be written.
    #[error(transparent)]
    Manifest(#[from] artifacts::manifest::ManifestError),
}

/// What to export and how.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Output directory (e.g. `models/`).
    pub out_dir: PathBuf,
    /// File stem, e.g. `vigil`: writes `vigil-fp32.onnx` and `vigil-int8.onnx`.
    pub name: String,
    /// Activation calibration method.
    pub calibration: Calibration,
    /// Weight scales per channel or per tensor.
    pub weight_scales: WeightScales,
    /// Also write the fp32 model.
    pub write_fp32: bool,
    /// Replace existing models and manifests.
    pub overwrite: bool,
}

impl ExportOptions {
    /// `<out_dir>/<name>-<suffix>.onnx`.
    fn model_path(&self, suffix: &str) -> PathBuf {
        self.out_dir.join(format!("{}-{suffix}.onnx", self.name))
    }

    /// The model files these options write: int8, and fp32 when asked for.
    pub fn outputs(&self) -> Vec<PathBuf> {
        let mut paths = vec![self.model_path("int8")];
        if self.write_fp32 {
            paths.push(self.model_path("fp32"));
        }
        paths
    }

    /// Refuses outputs (models or their manifests) that exist, unless `overwrite`.
    pub fn check_outputs(&self) -> Result<(), ExportError> {
        if self.overwrite {
            return Ok(());
        }
        for model in self.outputs() {
            for path in [artifacts::manifest::manifest_path(&model), model] {
                if path.exists() {
                    return Err(ExportError::Exists(path));
                }
            }
        }
        Ok(())
    }
}

/// Paths and manifests written.
#[derive(Debug, Clone)]
pub struct ExportReport {
    /// fp32 model, if written.
    pub fp32: Option<(PathBuf, ModelManifest)>,
    /// int8 model.
    pub int8: (PathBuf, ModelManifest),
}

/// The fp32 graph and one int8 graph (all calibration inputs, one view) as bytes, no files:
/// [`build_candidates`] for a single candidate.
pub fn build_graphs(
    net: &FoldedNetwork,
    calibration_inputs: &[Vec<f32>],
    calibration: Calibration,
    weight_scales: WeightScales,
    input_range: (f32, f32),
) -> Result<(Vec<u8>, Vec<u8>), ExportError> {
    let counts = [calibration_inputs.len()];
    let (fp32, mut int8) = build_candidates(
        net,
        calibration_inputs,
        &counts,
        calibration,
        weight_scales,
        input_range,
        Views::Single,
    )?;
    Ok((fp32, int8.remove(0)))
}

/// The fp32 graph and one int8 graph for each count in `counts`, calibrated on the first
/// that many of `calibration_inputs` (one calibration pass for all of them), in the order
/// of `counts`: candidates to choose between on validation data. Each classifier averages
/// `views` of a face; calibration sees the faces as given (their mirror images are as likely).
pub fn build_candidates(
    net: &FoldedNetwork,
    calibration_inputs: &[Vec<f32>],
    counts: &[usize],
    calibration: Calibration,
    weight_scales: WeightScales,
    input_range: (f32, f32),
    views: Views,
) -> Result<(Vec<u8>, Vec<Vec<u8>>), ExportError> {
    let fp32 = float_graph::classifier(net, views);
    let (exposed, names) = float_graph::build(net, Exposed::Activations);
    let ranges =
        calibrate::calibrate_prefixes(&exposed, net.input_chw, &names, calibration_inputs, calibration, counts)?;
    let int8 = ranges
        .iter()
        .map(|r| int8_graph::build(net, r, weight_scales, input_range, views))
        .collect::<Result<_, _>>()?;
    Ok((fp32, int8))
}

/// Writes fp32 (optional) and int8 graphs with manifests into `options.out_dir`.
/// `template` supplies everything in the manifest except name, quantisation and hash; its
/// temperature is the int8 model's, `fp32_temperature` the fp32 model's (each fitted on its
/// own logits).
pub fn write_models(
    fp32: &[u8],
    int8: &[u8],
    calibration_images: usize,
    options: &ExportOptions,
    template: &ModelManifest,
    fp32_temperature: f32,
) -> Result<ExportReport, ExportError> {
    options.check_outputs()?;
    std::fs::create_dir_all(&options.out_dir).map_err(|source| ExportError::Io {
        path: options.out_dir.clone(),
        source,
    })?;
    let with = |suffix: &str, quantization: Quantization| ModelManifest {
        name: format!("{}-{suffix}", options.name),
        quantization,
        ..template.clone()
    };
    let fp32 = if options.write_fp32 {
        let p = options.model_path("fp32");
        let manifest = ModelManifest {
            temperature: fp32_temperature,
            ..with("fp32", Quantization::Float32)
        };
        let m = artifacts::manifest::write_model(&p, fp32, manifest)?;
        Some((p, m))
    } else {
        None
    };
    let int8_quant = Quantization::Int8 {
        scheme: format!(
            "QLinearConv; {} symmetric int8 weights, per-tensor asymmetric int8 activations, int32 bias; \
             first layer in float over the float input; output layer in float over int8 weights and inputs",
            options.weight_scales.name()
        ),
        calibration: options.calibration.name(),
        calibration_images: calibration_images as u32,
    };
    let p = options.model_path("int8");
    let m = artifacts::manifest::write_model(&p, int8, with("int8", int8_quant))?;
    Ok(ExportReport { fp32, int8: (p, m) })
}

/// A graph loaded into tract once, for evaluating many inputs.
pub struct TractRunner {
    model: std::sync::Arc<tract_onnx::prelude::TypedRunnableModel>,
    chw: [usize; 3],
}

impl TractRunner {
    /// Loads and optimises a graph for `[1, c, h, w]` inputs.
    pub fn new(graph: &[u8], chw: [usize; 3]) -> Result<Self, ExportError> {
        let model = artifacts::onnx::load_plan(graph, chw).map_err(|e| ExportError::Tract(format!("{e:#}")))?;
        Ok(TractRunner { model, chw })
    }

    /// The logits of one input.
    pub fn logits(&self, input: &[f32]) -> Result<Vec<f32>, ExportError> {
        use tract_onnx::prelude::*;
        let err = |e: TractError| ExportError::Tract(format!("{e:#}"));
        let [c, h, w] = self.chw;
        let tensor = Tensor::from_shape(&[1, c, h, w], input).map_err(err)?;
        let out = self.model.run(tvec!(tensor.into())).map_err(err)?;
        out[0]
            .try_as_plain_ram()
            .and_then(|v| v.as_slice::<f32>().map(<[f32]>::to_vec))
            .map_err(err)
    }

    /// The logits of one input to the seven-class classifier.
    pub fn class_logits(&self, input: &[f32]) -> Result<[f32; shared::NUM_CLASSES], ExportError> {
        let z = self.logits(input)?;
        <[f32; shared::NUM_CLASSES]>::try_from(z.as_slice())
            .map_err(|_| ExportError::Shape(format!("{} logits, expected {}", z.len(), shared::NUM_CLASSES)))
    }
}

/// Runs an ONNX graph in tract on one `c*h*w` input and returns its first output (logits).
pub fn run_tract(graph: &[u8], chw: [usize; 3], input: &[f32]) -> Result<Vec<f32>, ExportError> {
    TractRunner::new(graph, chw)?.logits(input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use shared::arch::Architecture;

    fn images(n: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                (0..48 * 48)
                    .map(|_| rng.random_range(0u8..=255) as f32 / 255.0)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn fp32_graph_matches_the_reference_and_int8_tracks_it() {
        let net = FoldedNetwork::random(&Architecture::paper(7), 7).unwrap();
        let calib = images(24, 1);
        let (fp32, int8) =
            build_graphs(&net, &calib, Calibration::MinMax, WeightScales::PerChannel, (0.0, 1.0)).unwrap();
        for input in images(4, 2) {
            let reference = net.reference_logits(&input);
            let tract = run_tract(&fp32, net.input_chw, &input).unwrap();
            let scale = reference.iter().fold(1f32, |m, v| m.max(v.abs()));
            for (a, b) in reference.iter().zip(&tract) {
                assert!((a - b).abs() <= 1e-4 * scale, "fp32 {a} vs reference {b}");
            }
            let q = run_tract(&int8, net.input_chw, &input).unwrap();
            assert_eq!(q.len(), 7);
            let spread =
                reference.iter().fold(f32::MIN, |m, v| m.max(*v)) - reference.iter().fold(f32::MAX, |m, v| m.min(*v));
            for (a, b) in reference.iter().zip(&q) {
                assert!(
                    (a - b).abs() <= 0.1 * spread.max(1e-3),
                    "int8 {b} vs fp32 {a} (spread {spread})"
                );
            }
        }
    }

    /// The output layer's sums are not requantised: int8 logits would lie on a grid of a
    /// 255th of their calibrated range, and a grid that coarse ties or swaps close classes.
    #[test]
    fn int8_logits_are_not_on_a_grid() {
        let net = FoldedNetwork::random(&Architecture::paper(7), 11).unwrap();
        let (_, int8) = build_graphs(
            &net,
            &images(24, 4),
            Calibration::MinMax,
            WeightScales::PerChannel,
            (0.0, 1.0),
        )
        .unwrap();
        let runner = TractRunner::new(&int8, net.input_chw).unwrap();
        let mut values: Vec<f32> = images(64, 5).iter().map(|x| runner.logits(x).unwrap()[0]).collect();
        values.sort_by(f32::total_cmp);
        values.dedup();
        let spread = values[values.len() - 1] - values[0];
        let closest = values.windows(2).map(|w| w[1] - w[0]).fold(f32::MAX, f32::min);
        assert!(values.len() > 32, "{} distinct logits of 64", values.len());
        assert!(
            closest < spread / 255.0 / 4.0,
            "the closest logits are {closest} apart, over a spread of {spread}: quantised"
        );
    }

    /// A 48x48 face mirrored left to right.
    fn mirror_image(x: &[f32]) -> Vec<f32> {
        x.chunks_exact(48).flat_map(|row| row.iter().rev().copied()).collect()
    }

    /// A mirrored classifier's logits are the mean of the plain classifier's logits for the
    /// face and for its mirror image (fp32 and int8, calibrated alike), so they do not change
    /// when the face is mirrored, which a random network's plain logits do.
    #[test]
    fn mirrored_graphs_average_a_face_and_its_mirror_image() {
        let net = FoldedNetwork::random(&Architecture::paper(7), 13).unwrap();
        let calib = images(16, 6);
        let build = |views| {
            build_candidates(
                &net,
                &calib,
                &[calib.len()],
                Calibration::MinMax,
                WeightScales::PerChannel,
                (0.0, 1.0),
                views,
            )
            .unwrap()
        };
        let (fp32, int8) = build(Views::Single);
        let (fp32_m, int8_m) = build(Views::Mirrored);
        let graphs = [(&fp32, &fp32_m), (&int8[0], &int8_m[0])];
        for (kind, (plain, mirrored)) in ["fp32", "int8"].iter().zip(graphs) {
            let plain = TractRunner::new(plain, net.input_chw).unwrap();
            let mirrored = TractRunner::new(mirrored, net.input_chw).unwrap();
            for x in images(3, 7) {
                let flipped = mirror_image(&x);
                let (a, b) = (plain.logits(&x).unwrap(), plain.logits(&flipped).unwrap());
                let m = mirrored.logits(&x).unwrap();
                assert_eq!(m.len(), 7);
                let scale = a.iter().chain(&b).fold(1f32, |s, v| s.max(v.abs()));
                let apart = a.iter().zip(&b).fold(0f32, |d, (a, b)| d.max((a - b).abs()));
                assert!(apart > 1e-3 * scale, "{kind}: the random network is symmetric: {a:?}");
                for k in 0..7 {
                    let mean = (a[k] + b[k]) / 2.0;
                    assert!(
                        (m[k] - mean).abs() <= 1e-5 * scale,
                        "{kind} logit {k}: {} vs mean {mean}",
                        m[k]
                    );
                }
                assert_eq!(
                    m,
                    mirrored.logits(&flipped).unwrap(),
                    "{kind}: mirroring the face changed it"
                );
            }
        }
        // The file says which it is, and reads back into the same weights either way.
        let of = |g: &[u8]| Views::of_model(g, "test").unwrap();
        assert_eq!((of(&int8[0]), of(&int8_m[0])), (Views::Single, Views::Mirrored));
        assert_eq!(of(&fp32_m), Views::Mirrored);
        let arch = Architecture::paper(7);
        let back = read_back::folded_from_int8(&int8[0], "single", &arch).unwrap();
        let back_m = read_back::folded_from_int8(&int8_m[0], "mirrored", &arch).unwrap();
        let x = &calib[0];
        assert_eq!(back.reference_logits(x), back_m.reference_logits(x));
    }

    /// Names of the ops tract runs for a graph, after optimisation.
    fn tract_ops(graph: &[u8]) -> Vec<String> {
        let model = artifacts::onnx::load_plan(graph, [1, 48, 48]).unwrap();
        model
            .model()
            .nodes()
            .iter()
            .map(|n| n.op().name().to_string())
            .collect()
    }

    /// Why the shipped model has per-layer weight scales: only then does tract fuse the
    /// requantisation into its integer matmul. If a tract upgrade changes this, the choice
    /// (README, "Export to int8 ONNX") needs measuring again.
    #[test]
    fn per_tensor_weight_scales_let_tract_fuse_the_requantisation() {
        let net = FoldedNetwork::random(&Architecture::paper(7), 5).unwrap();
        let calib = images(8, 3);
        let ops = |scales| {
            let (_, int8) = build_graphs(&net, &calib, Calibration::MinMax, scales, (0.0, 1.0)).unwrap();
            tract_ops(&int8)
        };
        let count = |ops: &[String], name: &str| ops.iter().filter(|o| o.as_str() == name).count();
        let per_channel = ops(WeightScales::PerChannel);
        let per_tensor = ops(WeightScales::PerTensor);
        // The output layer is float (int8_graph's module docs): one dequantisation of its
        // input, then a single matmul with the bias folded in, under either weight scale.
        for ops in [&per_channel, &per_tensor] {
            let dequantised = ops.iter().position(|o| o == "DequantizeLinearF32");
            let output_layer = &ops[dequantised.unwrap_or_else(|| panic!("no dequantisation: {ops:?}")) + 1..];
            assert_eq!(count(output_layer, "OptMatMul"), 1, "{output_layer:?}");
            assert!(
                output_layer
                    .iter()
                    .all(|o| ["IntoShape", "OptMatMulPack", "OptMatMul", "Const"].contains(&o.as_str())),
                "the float output layer is more than a matmul: {output_layer:?}"
            );
        }
        // The first layer is float too: a matmul, then one fused quantisation of its output.
        for ops in [&per_channel, &per_tensor] {
            let quantised = ops.iter().position(|o| o == "QuantizeLinearI8");
            let first_layer = &ops[..quantised.unwrap_or_else(|| panic!("no quantisation: {ops:?}"))];
            assert_eq!(count(first_layer, "OptMatMul"), 1, "{first_layer:?}");
            assert_eq!(count(ops, "QuantizeLinearI8"), 1, "{ops:?}");
        }
        let matmuls = count(&per_tensor, "OptMatMul");
        assert!(matmuls >= 20, "{per_tensor:?}");
        // Per-channel scales: every integer layer (all but the first and the output layer)
        // requantises in a separate Scale.
        assert_eq!(count(&per_channel, "Scale"), matmuls - 2, "{per_channel:?}");
        for separate in ["Scale", "Add", "Min", "Max", "Cast"] {
            assert_eq!(
                count(&per_tensor, separate),
                0,
                "{separate} left unfused: {per_tensor:?}"
            );
        }
        assert!(per_tensor.len() < per_channel.len());
    }

    fn template() -> ModelManifest {
        ModelManifest {
            format_version: shared::wire::WIRE_VERSION,
            name: "vigil".into(),
            labels: shared::Emotion::ALL.to_vec(),
            input_chw: [1, 48, 48],
            preprocessing: Default::default(),
            quantization: Quantization::Float32,
            datasets: vec![crate::data::DatasetKind::Jaffe],
            split: crate::data::SplitProtocol::Paper,
            seed: 42,
            metrics: Vec::new(),
            sha256: String::new(),
            temperature: 1.0,
            recipe: String::new(),
            enhancer: None,
        }
    }

    #[test]
    fn existing_models_and_manifests_are_refused_without_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = ExportOptions {
            out_dir: dir.path().to_path_buf(),
            name: "vigil".into(),
            calibration: Calibration::MinMax,
            weight_scales: WeightScales::PerChannel,
            write_fp32: true,
            overwrite: false,
        };
        options.check_outputs().unwrap();
        // A manifest alone is enough to refuse: it belongs to a model someone relies on.
        std::fs::write(dir.path().join("vigil-fp32.manifest.json"), "{}").unwrap();
        let err = options.check_outputs().unwrap_err().to_string();
        assert!(
            err.ends_with("vigil-fp32.manifest.json exists; pass --force to replace it (and its manifest)"),
            "{err}"
        );
        let err = write_models(b"fp32", b"int8", 1, &options, &template(), 1.5).unwrap_err();
        assert!(matches!(err, ExportError::Exists(_)), "{err}");
        assert!(!dir.path().join("vigil-int8.onnx").exists(), "nothing written");
        options.overwrite = true;
        let report = write_models(b"fp32", b"int8", 1, &options, &template(), 1.5).unwrap();
        assert_eq!(std::fs::read(dir.path().join("vigil-int8.onnx")).unwrap(), b"int8");
        let manifest = std::fs::read_to_string(dir.path().join("vigil-fp32.manifest.json")).unwrap();
        assert!(manifest.contains(&artifacts::manifest::sha256_hex(b"fp32")));
        // Each model carries the temperature fitted on its own logits.
        assert_eq!(report.fp32.unwrap().1.temperature, 1.5);
        assert_eq!(report.int8.1.temperature, template().temperature);
    }
}
