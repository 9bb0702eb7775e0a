//! `host export --run <dir> --out models/`: a trained run -> fp32 and int8 ONNX + manifests.
//!
//! Loads the run's best (or last) checkpoint, folds BatchNorm, calibrates the int8
//! activation ranges on training images, checks int8 against fp32 on the run's test split
//! (accuracy and top-1 agreement go into the manifests), and writes the models.
//!
//! With `--enhancer` the run is a face-enhancer run (`host train-enhancer`): its checkpoint is
//! written as fp32 ONNX with an [`shared::wire::EnhancerManifest`] (`<name>-enhancer.onnx`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use shared::arch::Architecture;
use shared::preprocess::Normalization;
use shared::wire::{Metric, ModelManifest, WIRE_VERSION};
use shared::{Emotion, INPUT_SIZE};

use crate::data::{Sample, load_splits};
use crate::eval::calibration::{self, ECE_BINS};
use crate::export::{
    Calibration, ExportOptions, TractRunner, Views, WeightScales, build_candidates, parity, write_models,
};
use crate::train::checkpoint;
use crate::train::device_for;

/// Which checkpoint of a run to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// Best validation accuracy.
    Best,
    /// Most recent epoch.
    Last,
}

impl Which {
    /// This checkpoint's directory in `run`.
    fn dir(self, run: &std::path::Path) -> PathBuf {
        match self {
            Which::Best => checkpoint::best_dir(run),
            Which::Last => checkpoint::last_dir(run),
        }
    }
}

/// Options of `host export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Training run directory (`host train --out`).
    #[arg(long)]
    pub run: PathBuf,
    /// Output directory for models and manifests.
    #[arg(long, default_value = "models")]
    pub out: PathBuf,
    /// File stem: writes `<name>-int8.onnx` (and `<name>-fp32.onnx` with `--fp32`).
    #[arg(long, default_value = "vigil")]
    pub name: String,
    /// Checkpoint to export.
    #[arg(long, value_enum, default_value_t = Which::Best)]
    pub checkpoint: Which,
    /// Activation calibration: `minmax` or `percentile-<p>` (e.g. percentile-99.99). Min/max is
    /// the default: on both shipped checkpoints it kept int8 top-1 equal to fp32 on every test
    /// image, where the 99.99th percentile lost 1.6 points on CK+ (models/REPORT.md).
    #[arg(long, default_value = "minmax")]
    pub calibration: Calibration,
    /// Weight scales: `per-channel` (accurate) or `per-tensor` (tract fuses the requantisation
    /// into its integer matmul: 1.6x faster). Check the printed int8/fp32 agreement: the
    /// paper-split model loses nothing with per-tensor, the in-the-wild one 1.3 points of
    /// agreement (models/REPORT.md).
    #[arg(long, default_value = "per-channel")]
    pub weight_scales: WeightScales,
    /// Training images used for calibration (seeded random choice, originals only). Several
    /// counts, comma-separated (e.g. 2000,8000,16000), calibrate once on the largest and
    /// export the count whose int8 model agrees best with fp32 on the validation split (the
    /// larger count on a tie); a count above the training originals uses them all.
    #[arg(long, value_delimiter = ',', default_value = "300")]
    pub calibration_images: Vec<usize>,
    /// Views of each face the exported classifiers average: `single` (one pass), or
    /// `mirrored` (the mean logits of the face and its mirror image, built into the graph: two
    /// passes). Choose on the printed validation row (models/REPORT.md, "Test-time mirroring").
    #[arg(long, value_enum, default_value_t = Views::Single)]
    pub views: Views,
    /// Also write the fp32 model.
    #[arg(long)]
    pub fp32: bool,
    /// Replace models (and manifests) already in --out; without it they are refused before
    /// any work is done.
    #[arg(long)]
    pub force: bool,
    /// Dataset directory, when it is not where the run was trained (a run trained on another
    /// machine records that machine's paths).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Prepared-data cache directory, likewise.
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// The run is a face-enhancer run (`host train-enhancer`): writes `<name>-enhancer.onnx`
    /// (fp32) and its manifest. Calibration options do not apply.
    #[arg(long)]
    pub enhancer: bool,
}

fn inputs(samples: &[&Sample], norm: Normalization) -> Vec<Vec<f32>> {
    samples
        .iter()
        .map(|s| s.pixels.iter().map(|&p| norm.apply(p)).collect())
        .collect()
}

/// Runs the export; prints the parity table and the written paths.
pub fn run(args: &ExportArgs) -> Result<()> {
    if args.enhancer {
        return export_enhancer(args);
    }
    let options = ExportOptions {
        out_dir: args.out.clone(),
        name: args.name.clone(),
        calibration: args.calibration,
        weight_scales: args.weight_scales,
        write_fp32: args.fp32,
        overwrite: args.force,
    };
    options.check_outputs()?;
    let dir = args.checkpoint.dir(&args.run);
    let arch = Architecture::paper(shared::NUM_CLASSES);
    let state =
        checkpoint::load_state(&dir, Some(&arch)).with_context(|| format!("reading checkpoint {}", dir.display()))?;
    let device = device_for(crate::train::config::BackendKind::Flex)?;
    let model = checkpoint::load_model(&dir, &state, &device)?;
    let net = model.export_weights().fold();

    let mut prepare = state.config.prepare_config();
    if let Some(root) = &args.data {
        prepare.data.data_root = root.clone();
    }
    if let Some(cache) = &args.cache {
        prepare.data.cache_dir = cache.clone();
    }
    let splits = load_splits(&prepare).context("loading the run's data splits")?;
    let norm = prepare.data.preprocessing.normalization;
    let mut originals: Vec<&Sample> = splits.train.iter().filter(|s| !s.augmented).collect();
    originals.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(state.config.data.seed));
    anyhow::ensure!(
        !originals.is_empty(),
        "the run's training split is empty: nothing to calibrate on"
    );
    let mut counts: Vec<usize> = args
        .calibration_images
        .iter()
        .map(|&n| n.min(originals.len()))
        .collect();
    counts.sort_unstable();
    counts.dedup();
    anyhow::ensure!(
        counts.first().is_some_and(|&n| n > 0),
        "--calibration-images: give one or more counts above 0"
    );
    originals.truncate(counts[counts.len() - 1]);
    let calibration = inputs(&originals, norm);
    let input_range = norm.range();
    tracing::info!(images = ?counts, method = %args.calibration.name(), weights = args.weight_scales.name(), views = ?args.views, "calibrating");
    let (fp32, mut candidates) = build_candidates(
        &net,
        &calibration,
        &counts,
        args.calibration,
        args.weight_scales,
        input_range,
        args.views,
    )?;

    let chw = net.input_chw;
    let fp32_runner = TractRunner::new(&fp32, chw)?;
    let val: Vec<&Sample> = splits.val.iter().collect();
    let val_labels: Vec<usize> = val.iter().map(|s| s.label.index()).collect();
    let val_inputs = inputs(&val, norm);
    // Several counts: the one whose int8 model agrees best with fp32 on validation (its
    // validation row is kept for the table below).
    let (chosen, chosen_val) = if candidates.len() == 1 {
        (0, None)
    } else {
        println!("| calibration images | validation images | fp32 acc | int8 acc | top-1 agreement | max logit diff |");
        println!("|---:|---:|---:|---:|---:|---:|");
        let mut rows = Vec::new();
        for (graph, n) in candidates.iter().zip(&counts) {
            let p = parity::compare(&fp32_runner, &TractRunner::new(graph, chw)?, &val_inputs, &val_labels)?;
            println!("{}", p.table_row(&n.to_string()));
            rows.push(p);
        }
        let best = parity::most_agreeing(&rows).context("no calibration candidates")?;
        println!("\nexporting the int8 model calibrated on {} images\n", counts[best]);
        (best, Some(rows[best]))
    };
    let calibration_images = counts[chosen];
    let int8 = candidates.swap_remove(chosen);
    let int8_runner = TractRunner::new(&int8, chw)?;
    let mut metrics = Vec::new();
    println!("| test set | images | fp32 acc | int8 acc | top-1 agreement | max logit diff |");
    println!("|---|---:|---:|---:|---:|---:|");
    for dataset in &state.config.data.datasets {
        let test: Vec<&Sample> = splits.test.iter().filter(|s| s.dataset == *dataset).collect();
        if test.is_empty() {
            continue;
        }
        let labels: Vec<usize> = test.iter().map(|s| s.label.index()).collect();
        let p = parity::compare(&fp32_runner, &int8_runner, &inputs(&test, norm), &labels)?;
        let name = format!("{}/{}", dataset.name(), prepare.data.protocol.name());
        println!("{}", p.table_row(&name));
        metrics.push(Metric {
            name: format!("{name}/test/fp32_accuracy"),
            value: p.fp32_accuracy as f32,
        });
        metrics.push(Metric {
            name: format!("{name}/test/int8_accuracy"),
            value: p.int8_accuracy as f32,
        });
        metrics.push(Metric {
            name: format!("{name}/test/int8_fp32_top1_agreement"),
            value: p.top1_agreement as f32,
        });
    }

    // The validation split's row is the one to choose export options by (calibration, its
    // image count, weight scales): the test rows above are for reporting only.
    let p = match chosen_val {
        Some(p) => p,
        None => parity::compare(&fp32_runner, &int8_runner, &val_inputs, &val_labels)?,
    };
    println!(
        "{}",
        p.table_row("validation, all datasets (choose options on this row)")
    );
    metrics.push(Metric {
        name: "validation/int8_fp32_top1_agreement".into(),
        value: p.top1_agreement as f32,
    });

    // Temperature: fitted on the validation split's int8 logits (what the edge computes), then
    // the calibration of the test split's scores before and after, per dataset. The fp32
    // model, when written, gets its own, fitted on its logits.
    let logits_with = |runner: &TractRunner, samples: &[&Sample]| -> Result<Vec<[f32; shared::NUM_CLASSES]>> {
        Ok(inputs(samples, norm)
            .iter()
            .map(|x| runner.class_logits(x))
            .collect::<Result<_, _>>()?)
    };
    let logits_of = |samples: &[&Sample]| logits_with(&int8_runner, samples);
    let temperature = calibration::fit_temperature(&logits_of(&val)?, &val_labels);
    println!(
        "\ntemperature {temperature:.3} (fitted on {} validation images)\n",
        val.len()
    );
    let fp32_temperature = if args.fp32 {
        let t = calibration::fit_temperature(&logits_with(&fp32_runner, &val)?, &val_labels);
        println!("fp32 model's temperature {t:.3} (fitted on the same images)\n");
        t
    } else {
        temperature
    };
    println!("| test set | ECE (15 bins), t = 1 | ECE, t = {temperature:.3} |");
    println!("|---|---:|---:|");
    let plots = args.run.join("plots");
    std::fs::create_dir_all(&plots).with_context(|| format!("creating {}", plots.display()))?;
    for dataset in &state.config.data.datasets {
        let test: Vec<&Sample> = splits.test.iter().filter(|s| s.dataset == *dataset).collect();
        if test.is_empty() {
            continue;
        }
        let labels: Vec<usize> = test.iter().map(|s| s.label.index()).collect();
        let logits = logits_of(&test)?;
        let probs = |t: f32| -> Vec<[f32; shared::NUM_CLASSES]> {
            logits.iter().map(|z| shared::labels::softmax_at(z, t)).collect()
        };
        let (before, after) = (probs(1.0), probs(temperature));
        let (e0, e1) = (
            calibration::ece(&before, &labels, ECE_BINS),
            calibration::ece(&after, &labels, ECE_BINS),
        );
        let name = format!("{}/{}", dataset.name(), prepare.data.protocol.name());
        println!("| {name} | {e0:.4} | {e1:.4} |");
        metrics.push(Metric {
            name: format!("{name}/test/int8_ece"),
            value: e0 as f32,
        });
        metrics.push(Metric {
            name: format!("{name}/test/int8_ece_calibrated"),
            value: e1 as f32,
        });
        let png = plots.join(format!("reliability-{}.png", dataset.name()));
        crate::plot::reliability(
            &png,
            &calibration::reliability(&before, &labels, ECE_BINS),
            &calibration::reliability(&after, &labels, ECE_BINS),
            &format!("{} test: int8 scores, ECE {e0:.3} -> {e1:.3}", dataset.name()),
        )?;
        println!("wrote {}", png.display());
    }

    let c = &state.config;
    let recipe = format!(
        "{} epochs ({} best{}), batch {}, {:?} lr {} {} warm-up {}, targets {:?}, label smoothing {}, mixup {}, flip {}, augmentation {:?}, balance {}, repeat [{}], {}; scores from {}",
        c.epochs,
        state.best.map_or(state.epochs_done, |b| b.epoch),
        match (state.best.and_then(|b| b.averaged), c.average_from) {
            (Some(n), Some(from)) => format!(", weights averaged over {n} epochs from {from}"),
            _ => String::new(),
        },
        c.batch_size,
        c.optimizer,
        c.lr,
        c.schedule,
        c.warmup_epochs,
        c.labels,
        c.label_smoothing,
        c.mixup,
        c.flip,
        c.augment,
        if c.data.balance.is_on() { "on" } else { "off" },
        c.repeat.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        c.init_from.as_ref().map_or_else(
            || "random init".to_string(),
            |p| format!("initialised from {}", p.display())
        ),
        args.views.describe()
    );
    let enhancer = match &prepare.data.enhancer {
        None => None,
        Some(path) => Some(place_enhancer(
            path,
            state.config.enhancer_sha256.as_deref(),
            &args.out,
            args.force,
        )?),
    };
    let template = ModelManifest {
        format_version: WIRE_VERSION,
        name: args.name.clone(),
        labels: Emotion::ALL.to_vec(),
        input_chw: [1, INPUT_SIZE as u32, INPUT_SIZE as u32],
        preprocessing: prepare.data.preprocessing,
        quantization: shared::wire::Quantization::Float32,
        datasets: state.config.data.datasets.clone(),
        split: prepare.data.protocol,
        seed: state.config.data.seed,
        metrics,
        sha256: String::new(),
        temperature,
        recipe,
        enhancer,
    };
    let report = write_models(&fp32, &int8, calibration_images, &options, &template, fp32_temperature)?;
    if let Some((path, m)) = &report.fp32 {
        println!("wrote {} (sha256 {})", path.display(), m.sha256);
    }
    println!("wrote {} (sha256 {})", report.int8.0.display(), report.int8.1.sha256);
    Ok(())
}

/// `host export --enhancer`: the enhancer run's checkpoint as fp32 ONNX with its manifest.
fn export_enhancer(args: &ExportArgs) -> Result<()> {
    use crate::enhance::train as enhancer;
    let path = args.out.join(format!("{}-enhancer.onnx", args.name));
    for p in [artifacts::manifest::manifest_path(&path), path.clone()] {
        if p.exists() && !args.force {
            anyhow::bail!("{} exists; pass --force to replace it", p.display());
        }
    }
    let dir = args.checkpoint.dir(&args.run);
    let state = enhancer::load_state(&dir).with_context(|| format!("{} is not an enhancer run", args.run.display()))?;
    let device = burn::tensor::Device::flex();
    let net = enhancer::load_net(&dir, &state, &device)?;
    let epoch = match args.checkpoint {
        Which::Best => state.best_epoch.unwrap_or(state.epochs_done),
        Which::Last => state.epochs_done,
    };
    let figures = state.history.iter().find(|e| e.epoch == epoch);
    let metrics = figures
        .map(|e| {
            vec![
                Metric {
                    name: "validation psnr db (degraded faces)".into(),
                    value: e.val_psnr as f32,
                },
                Metric {
                    name: "validation ssim (degraded faces)".into(),
                    value: e.val_ssim as f32,
                },
            ]
        })
        .unwrap_or_default();
    let c = &state.config;
    let manifest = shared::wire::EnhancerManifest {
        format_version: WIRE_VERSION,
        name: format!("{}-enhancer", args.name),
        spec: c.spec,
        side: INPUT_SIZE as u32,
        quantization: shared::wire::Quantization::Float32,
        metrics,
        recipe: format!(
            "restores faces degraded by host::enhance::degrade (uneven light, haze, defocus, motion blur, low light with noise, JPEG); L1 loss, Adam lr {} cosine, batch {}, {} of {} epochs, seed {}; checkpoint of epoch {epoch}",
            c.lr, c.batch_size, state.epochs_done, c.epochs, c.seed
        ),
        sha256: String::new(),
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let onnx = crate::enhance::export::onnx(&net, INPUT_SIZE);
    let named = artifacts::enhancer::write(&path, &onnx, manifest)?;
    // What was written must load and run as the edge will run it.
    let check = artifacts::enhancer::Enhancer::load(&path)?;
    check.enhance(&shared::GrayImage::filled(INPUT_SIZE as u32, INPUT_SIZE as u32, 128))?;
    println!("wrote {} (sha256 {})", path.display(), named.sha256);
    Ok(())
}

/// Puts the enhancer a run was trained behind into `out` (beside the model, with its
/// manifest) unless the same file is already there, and returns the reference the model's
/// manifest records. A different file under the same name is kept unless `force`. The file
/// at `path` must be the one the run recorded (`trained_sha256`; older runs recorded none):
/// an enhancer retrained in place would otherwise be named as the model's.
fn place_enhancer(
    path: &std::path::Path,
    trained_sha256: Option<&str>,
    out: &std::path::Path,
    force: bool,
) -> Result<shared::wire::EnhancerRef> {
    let (bytes, manifest) = artifacts::enhancer::read_checked(path)
        .with_context(|| format!("the run was trained behind the enhancer {}", path.display()))?;
    if let Some(trained) = trained_sha256
        && !trained.eq_ignore_ascii_case(&manifest.sha256)
    {
        anyhow::bail!(
            "the run was trained behind an enhancer with sha256 {trained}, but {} is now another (sha256 {}): \
             restore that enhancer there, or train the classifier again behind this one",
            path.display(),
            manifest.sha256
        );
    }
    let name = path.file_name().context("enhancer path without a file name")?;
    let target = out.join(name);
    if !artifacts::enhancer::holds(&target, &manifest.sha256) {
        if target.exists() && !force {
            anyhow::bail!(
                "{} exists and is not the enhancer the run was trained behind; pass --force to replace it",
                target.display()
            );
        }
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        artifacts::enhancer::write(&target, &bytes, manifest.clone())?;
        println!("wrote {} (the run's enhancer)", target.display());
    }
    Ok(artifacts::enhancer::reference(&target, &manifest.sha256))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run records its enhancer's hash; an export finding another file at that path refuses
    /// to name it as the model's enhancer.
    #[test]
    fn the_enhancer_placed_beside_the_model_is_the_one_the_run_trained_behind() {
        let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/vigil-enhancer.onnx");
        let (_, manifest) = artifacts::enhancer::read_checked(&shipped).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let other = "0".repeat(64);
        let err = place_enhancer(&shipped, Some(&other), tmp.path(), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&other) && err.contains(&manifest.sha256), "{err}");
        assert!(!tmp.path().join("vigil-enhancer.onnx").exists(), "nothing placed");
        for recorded in [Some(manifest.sha256.as_str()), None] {
            let reference = place_enhancer(&shipped, recorded, tmp.path(), false).unwrap();
            assert_eq!(reference.sha256, manifest.sha256);
        }
        assert!(tmp.path().join("vigil-enhancer.onnx").is_file());
    }
}
