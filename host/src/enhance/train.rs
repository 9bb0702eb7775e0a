//! Training the enhancer: L1 between the restored and the clean face (as FFA-Net), Adam with
//! a cosine schedule, one freshly degraded copy of every training face per epoch, the
//! checkpoint of the best validation PSNR kept. A run directory holds
//! `checkpoints/{last,best}/` (weights, optimiser, `state.json`), `metrics.csv`,
//! `curves.png`, and after the last epoch `report.md` and `samples.png`.
//!
//! Validation and test faces are degraded once, with the draw of [`EVAL_EPOCH`], so every
//! epoch and every method is measured on the same faces.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Device;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use shared::GrayImage;
use shared::enhancer::FfaSpec;
use shared::preprocess::{Enhancement, enhance};

use super::degrade::{self, Degradation};
use super::network::{FfaNet, faces_tensor};
use super::quality::{psnr_capped, ssim};
use crate::train::checkpoint::{self, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE, best_dir, last_dir};
use crate::train::optim::FusedAdam;
use crate::train::{Schedule, ScheduleKind};

/// Side of the faces (the classifier's input).
const SIDE: usize = shared::INPUT_SIZE;
/// The "epoch" whose degradation draw validation and test faces get.
pub const EVAL_EPOCH: u64 = u64::MAX;
/// Version of `state.json` and the module tree.
pub const STATE_VERSION: u32 = 1;

/// Settings of an enhancer run, saved in its checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnhancerConfig {
    /// Network widths.
    pub spec: FfaSpec,
    /// Epochs (one degraded copy of every training face each).
    pub epochs: usize,
    /// Faces per step.
    pub batch_size: usize,
    /// Peak learning rate (cosine to 0).
    pub lr: f64,
    /// Seed of the initialisation, order and degradations.
    pub seed: u64,
    /// Use at most this many training faces (0: all).
    pub max_train: usize,
    /// Validate on at most this many faces each epoch (0: all).
    pub max_val: usize,
}

impl Default for EnhancerConfig {
    fn default() -> Self {
        EnhancerConfig {
            spec: FfaSpec::default(),
            epochs: 8,
            batch_size: 32,
            lr: 1e-3,
            seed: 42,
            max_train: 0,
            max_val: 1000,
        }
    }
}

/// Why an enhancer run failed.
#[derive(Debug, thiserror::Error)]
pub enum EnhancerError {
    /// A setting out of range.
    #[error("invalid enhancer configuration: {0}")]
    Config(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A checkpoint could not be read or written.
    #[error("checkpoint {path}: {why}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// The loss became NaN or infinite.
    #[error("enhancer training diverged at epoch {0}; try a lower --lr")]
    Diverged(usize),
    /// A checkpoint directory could not be staged, swapped in or restored.
    #[error(transparent)]
    Files(#[from] crate::train::CheckpointError),
    /// A plot failed.
    #[error(transparent)]
    Plot(#[from] crate::plot::PlotError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EnhancerError + '_ {
    move |source| EnhancerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One epoch's figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EnhancerEpoch {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training L1 (0..1 pixels).
    pub train_l1: f64,
    /// Validation L1.
    pub val_l1: f64,
    /// Validation PSNR (dB) of the restored faces.
    pub val_psnr: f64,
    /// Validation SSIM.
    pub val_ssim: f64,
    /// Learning rate.
    pub lr: f64,
    /// Wall time.
    pub seconds: f64,
}

/// What a checkpoint records besides the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnhancerState {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// The run's settings.
    pub config: EnhancerConfig,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Per-epoch figures.
    pub history: Vec<EnhancerEpoch>,
    /// Epoch with the best validation PSNR so far.
    pub best_epoch: Option<usize>,
}

/// Faces degraded once for measuring: the clean and degraded pixels and the kinds applied.
pub struct EvalSet {
    /// Clean faces, `SIDE x SIDE` each.
    pub clean: Vec<Vec<u8>>,
    /// Their degraded copies.
    pub degraded: Vec<Vec<u8>>,
    /// The kinds applied to each.
    pub kinds: Vec<Vec<Degradation>>,
}

impl EvalSet {
    /// Degrades `faces` with the evaluation draw of `seed`.
    pub fn new(faces: &[Vec<u8>], seed: u64) -> Self {
        let (mut degraded, mut kinds) = (Vec::new(), Vec::new());
        for (i, face) in faces.iter().enumerate() {
            let (d, k) = degrade::degrade(face, SIDE, SIDE, &mut degrade::sample_rng(seed, EVAL_EPOCH, i as u64));
            degraded.push(d);
            kinds.push(k);
        }
        EvalSet {
            clean: faces.to_vec(),
            degraded,
            kinds,
        }
    }

    /// The first `n` faces (all with 0).
    pub fn truncated(&self, n: usize) -> EvalSet {
        let n = if n == 0 {
            self.clean.len()
        } else {
            n.min(self.clean.len())
        };
        EvalSet {
            clean: self.clean[..n].to_vec(),
            degraded: self.degraded[..n].to_vec(),
            kinds: self.kinds[..n].to_vec(),
        }
    }
}

/// Restores faces in batches of 256 (inference, no autodiff).
pub fn restore_all(net: &FfaNet, faces: &[Vec<u8>], device: &Device) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(faces.len());
    for chunk in faces.chunks(256) {
        let flat: Vec<u8> = chunk.concat();
        let restored = net.restore(&flat, chunk.len(), SIDE, SIDE, device);
        out.extend(restored.chunks_exact(SIDE * SIDE).map(<[u8]>::to_vec));
    }
    out
}

/// CLAHE with the shipped settings, as the classifier's preprocessing applies it.
pub fn clahe(face: &[u8]) -> Vec<u8> {
    let img = GrayImage::from_raw(SIDE as u32, SIDE as u32, face.to_vec()).expect("a 48x48 face");
    enhance(&img, Enhancement::default()).pixels().to_vec()
}

/// PSNR and SSIM of each output against its target.
fn face_quality(outputs: &[Vec<u8>], targets: &[Vec<u8>]) -> Vec<Quality> {
    outputs
        .iter()
        .zip(targets)
        .map(|(o, t)| Quality {
            psnr: psnr_capped(o, t),
            ssim: ssim(o, t, SIDE, SIDE),
        })
        .collect()
}

/// The mean of the faces `idx` of `scores`.
fn mean_over(scores: &[Quality], idx: impl ExactSizeIterator<Item = usize>) -> Quality {
    let n = idx.len().max(1) as f64;
    let (p, s) = idx.fold((0.0, 0.0), |(p, s), i| (p + scores[i].psnr, s + scores[i].ssim));
    Quality {
        psnr: p / n,
        ssim: s / n,
    }
}

/// Mean PSNR and SSIM of `outputs` against `targets`.
pub fn mean_quality(outputs: &[Vec<u8>], targets: &[Vec<u8>]) -> Quality {
    mean_over(&face_quality(outputs, targets), 0..outputs.len())
}

fn l1(outputs: &[Vec<u8>], targets: &[Vec<u8>]) -> f64 {
    let total: u64 = outputs
        .iter()
        .zip(targets)
        .flat_map(|(o, t)| o.iter().zip(t).map(|(&a, &b)| u64::from(a.abs_diff(b))))
        .sum();
    total as f64 / 255.0 / (outputs.len() * SIDE * SIDE).max(1) as f64
}

fn record_err(path: &Path) -> impl FnOnce(burn::store::RecordError) -> EnhancerError + '_ {
    move |e| EnhancerError::Checkpoint {
        path: path.to_path_buf(),
        why: e.to_string(),
    }
}

/// Writes a checkpoint with the classifier's crash-safe swap ([`checkpoint::stage`],
/// [`checkpoint::swap_in`]) and its file names.
fn save(dir: &Path, net: &FfaNet, optimizer: &ModuleOptimizer, state: &EnhancerState) -> Result<(), EnhancerError> {
    let tmp = checkpoint::stage(dir)?;
    let model = tmp.join(MODEL_FILE);
    net.clone().save_file(&model).map_err(record_err(&model))?;
    let opt = tmp.join(OPTIMIZER_FILE);
    optimizer.save(&opt).map_err(record_err(&opt))?;
    let json = serde_json::to_vec_pretty(state).expect("the state serialises");
    let state_path = tmp.join(STATE_FILE);
    std::fs::write(&state_path, json).map_err(io(&state_path))?;
    Ok(checkpoint::swap_in(&tmp, dir)?)
}

/// Reads a checkpoint's state.
pub fn load_state(dir: &Path) -> Result<EnhancerState, EnhancerError> {
    let path = dir.join(STATE_FILE);
    if !path.is_file() {
        checkpoint::restore_aside(dir, &[STATE_FILE, MODEL_FILE])?;
    }
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let state: EnhancerState = serde_json::from_slice(&bytes).map_err(|e| EnhancerError::Checkpoint {
        path: path.clone(),
        why: e.to_string(),
    })?;
    if state.version != STATE_VERSION {
        return Err(EnhancerError::Checkpoint {
            path,
            why: format!("version {} (this build reads {STATE_VERSION})", state.version),
        });
    }
    Ok(state)
}

/// Loads a checkpoint's network.
pub fn load_net(dir: &Path, state: &EnhancerState, device: &Device) -> Result<FfaNet, EnhancerError> {
    let path = dir.join(MODEL_FILE);
    FfaNet::new(&state.config.spec, device, state.config.seed)
        .try_load_file(&path)
        .map_err(record_err(&path))
}

/// Trains (or, with `resume`, continues) a run in `out` on clean `train` faces, validating on
/// `val`; returns the state after the last epoch (or after Ctrl-C).
pub fn fit(
    config: &EnhancerConfig,
    train: &[Vec<u8>],
    val: &EvalSet,
    out: &Path,
    resume: bool,
    stop: &AtomicBool,
) -> Result<EnhancerState, EnhancerError> {
    config
        .spec
        .validate()
        .map_err(|e| EnhancerError::Config(e.to_string()))?;
    if config.epochs == 0 || config.batch_size == 0 || !(config.lr.is_finite() && config.lr > 0.0) {
        return Err(EnhancerError::Config(format!(
            "epochs {}, batch size {} and lr {} must be positive",
            config.epochs, config.batch_size, config.lr
        )));
    }
    if train.is_empty() || val.clean.is_empty() {
        return Err(EnhancerError::Config("no training or validation faces".into()));
    }
    let inner = Device::flex();
    inner.seed(config.seed);
    let device = inner.clone().autodiff();
    device.seed(config.seed);
    let optimizer = ModuleOptimizer::from(FusedAdam::adam(None));
    let (mut net, mut optimizer, mut state) = if resume {
        let dir = last_dir(out);
        let mut state = load_state(&dir)?;
        let net = load_net(&dir, &state, &device)?;
        let path = dir.join(OPTIMIZER_FILE);
        let optimizer = optimizer.load(&path).map_err(record_err(&path))?;
        tracing::info!("resuming {} after {} epoch(s)", out.display(), state.epochs_done);
        state.config.epochs = config.epochs;
        (net, optimizer, state)
    } else {
        let state = EnhancerState {
            version: STATE_VERSION,
            config: config.clone(),
            epochs_done: 0,
            history: Vec::new(),
            best_epoch: None,
        };
        (FfaNet::new(&config.spec, &device, config.seed), optimizer, state)
    };
    let config = state.config.clone();
    let train = if config.max_train > 0 && config.max_train < train.len() {
        &train[..config.max_train]
    } else {
        train
    };
    let schedule = Schedule::new(ScheduleKind::Cosine, config.lr, config.epochs);
    std::fs::create_dir_all(out).map_err(io(out))?;
    while state.epochs_done < config.epochs && !stop.load(Ordering::Relaxed) {
        let epoch = state.epochs_done + 1;
        let lr = if state.epochs_done == 0 {
            schedule.initial()
        } else {
            schedule.next(state.history.last().map_or(config.lr, |h| h.lr), state.epochs_done, &[])
        };
        let started = Instant::now();
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(config.seed ^ (epoch as u64) << 20));
        let bar = crate::progress::bar(order.len() as u64, format!("enhancer epoch {epoch}/{}", config.epochs));
        let (mut loss_sum, mut batches) = (0.0, 0usize);
        for chunk in order.chunks(config.batch_size) {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let degraded: Vec<Vec<u8>> = chunk
                .iter()
                .map(|&i| {
                    let mut rng = degrade::sample_rng(config.seed, epoch as u64, i as u64);
                    degrade::degrade(&train[i], SIDE, SIDE, &mut rng).0
                })
                .collect();
            let n = chunk.len();
            let x = faces_tensor(&degraded.concat(), n, SIDE, SIDE, &device);
            let clean: Vec<u8> = chunk.iter().flat_map(|&i| train[i].iter().copied()).collect();
            let target = faces_tensor(&clean, n, SIDE, SIDE, &device);
            let loss = (net.forward(x) - target).abs().mean();
            let value: f32 = loss.clone().into_scalar();
            if !value.is_finite() {
                return Err(EnhancerError::Diverged(epoch));
            }
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optimizer.step(lr, net, grads);
            loss_sum += f64::from(value);
            batches += 1;
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        if stop.load(Ordering::Relaxed) {
            tracing::info!("stopped during epoch {epoch}; it restarts on --resume");
            break;
        }
        let valid = net.valid();
        let restored = restore_all(&valid, &val.degraded, &inner);
        let Quality {
            psnr: val_psnr,
            ssim: val_ssim,
        } = mean_quality(&restored, &val.clean);
        let metrics = EnhancerEpoch {
            epoch,
            train_l1: loss_sum / batches.max(1) as f64,
            val_l1: l1(&restored, &val.clean),
            val_psnr,
            val_ssim,
            lr,
            seconds: started.elapsed().as_secs_f64(),
        };
        tracing::info!(
            "enhancer epoch {epoch}: train L1 {:.4}, val L1 {:.4}, val PSNR {:.2} dB, SSIM {:.4}, lr {lr:.2e}, {:.0} s",
            metrics.train_l1,
            metrics.val_l1,
            val_psnr,
            val_ssim,
            metrics.seconds
        );
        state.history.push(metrics);
        state.epochs_done = epoch;
        let best = state
            .best_epoch
            .and_then(|b| state.history.iter().find(|h| h.epoch == b))
            .is_none_or(|b| val_psnr > b.val_psnr);
        if best {
            state.best_epoch = Some(epoch);
            save(&best_dir(out), &net, &optimizer, &state)?;
        }
        save(&last_dir(out), &net, &optimizer, &state)?;
        write_metrics(out, &state)?;
    }
    Ok(state)
}

fn write_metrics(out: &Path, state: &EnhancerState) -> Result<(), EnhancerError> {
    use plotters::style::{RED, RGBColor};
    let mut csv = String::from("epoch,train_l1,val_l1,val_psnr,val_ssim,lr,seconds\n");
    for h in &state.history {
        csv += &format!(
            "{},{:.6},{:.6},{:.4},{:.5},{:.6e},{:.1}\n",
            h.epoch, h.train_l1, h.val_l1, h.val_psnr, h.val_ssim, h.lr, h.seconds
        );
    }
    let path = out.join("metrics.csv");
    std::fs::write(&path, csv).map_err(io(&path))?;
    let pick = |f: fn(&EnhancerEpoch) -> f64| state.history.iter().map(|h| (h.epoch as f64, f(h))).collect();
    crate::plot::epoch_lines(
        &out.join("curves.png"),
        "Enhancer: validation PSNR of restored faces",
        "PSNR (dB)",
        &[("validation PSNR", RED, pick(|h| h.val_psnr))],
    )?;
    crate::plot::epoch_lines(
        &out.join("loss.png"),
        "Enhancer: L1 loss",
        "mean absolute error (0..1)",
        &[
            ("training L1", RGBColor(120, 120, 120), pick(|h| h.train_l1)),
            ("validation L1", RED, pick(|h| h.val_l1)),
        ],
    )?;
    Ok(())
}

/// PSNR and SSIM of one method on a set of faces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Mean PSNR, dB (identical faces count 100).
    pub psnr: f64,
    /// Mean SSIM.
    pub ssim: f64,
}

/// The comparison of a trained enhancer with the alternatives on one set of degraded faces.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Which faces: `all` or a degradation's name.
    pub name: String,
    /// Faces measured.
    pub faces: usize,
    /// The degraded face as it is, against the clean face.
    pub none: Quality,
    /// CLAHE of the degraded face against the clean face.
    pub clahe: Quality,
    /// CLAHE of the degraded face against CLAHE of the clean face (CLAHE's own domain).
    pub clahe_vs_clahe: Quality,
    /// The enhancer's output against the clean face.
    pub ffa: Quality,
}

/// Measures every method on `set`, overall and for the faces each kind touched.
pub fn compare(net: &FfaNet, set: &EvalSet, device: &Device) -> Vec<Comparison> {
    let restored = restore_all(net, &set.degraded, device);
    let clahe_degraded: Vec<Vec<u8>> = set.degraded.iter().map(|f| clahe(f)).collect();
    let clahe_clean: Vec<Vec<u8>> = set.clean.iter().map(|f| clahe(f)).collect();
    // Every face is scored once per method; the rows average subsets of those scores.
    let none = face_quality(&set.degraded, &set.clean);
    let clahe_scores = face_quality(&clahe_degraded, &set.clean);
    let clahe_vs_clahe = face_quality(&clahe_degraded, &clahe_clean);
    let ffa = face_quality(&restored, &set.clean);
    let measure = |name: &str, keep: &dyn Fn(usize) -> bool| {
        let idx: Vec<usize> = (0..set.clean.len()).filter(|&i| keep(i)).collect();
        let q = |scores: &[Quality]| mean_over(scores, idx.iter().copied());
        Comparison {
            name: name.to_string(),
            faces: idx.len(),
            none: q(&none),
            clahe: q(&clahe_scores),
            clahe_vs_clahe: q(&clahe_vs_clahe),
            ffa: q(&ffa),
        }
    };
    let mut rows = vec![measure("all", &|_| true)];
    for kind in Degradation::ALL {
        rows.push(measure(kind.name(), &|i| set.kinds[i].contains(&kind)));
    }
    rows
}

/// The comparison as a Markdown table.
pub fn comparison_table(rows: &[Comparison]) -> String {
    let mut s = String::from(
        "| faces | n | none PSNR / SSIM | CLAHE PSNR / SSIM | CLAHE vs CLAHE(clean) PSNR / SSIM | enhancer PSNR / SSIM | enhancer - best other, dB |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let f = |q: Quality| format!("{:.2} / {:.3}", q.psnr, q.ssim);
        let best_other = r.none.psnr.max(r.clahe.psnr).max(r.clahe_vs_clahe.psnr);
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {:+.2} |\n",
            r.name,
            r.faces,
            f(r.none),
            f(r.clahe),
            f(r.clahe_vs_clahe),
            f(r.ffa),
            r.ffa.psnr - best_other
        );
    }
    s
}

/// A PNG grid, one face per row: degraded, CLAHE, enhancer, clean, each scaled `scale` times.
pub fn sample_grid(
    path: &Path,
    net: &FfaNet,
    set: &EvalSet,
    rows: usize,
    device: &Device,
) -> Result<(), EnhancerError> {
    const SCALE: usize = 2;
    const GAP: usize = 4;
    let rows = rows.min(set.clean.len());
    let restored = restore_all(net, &set.degraded[..rows], device);
    let cell = SIDE * SCALE;
    let (width, height) = (4 * cell + 5 * GAP, rows * cell + (rows + 1) * GAP);
    let mut canvas = image::GrayImage::from_pixel(width as u32, height as u32, image::Luma([255]));
    for (r, out) in restored.iter().enumerate() {
        let columns = [
            set.degraded[r].clone(),
            clahe(&set.degraded[r]),
            out.clone(),
            set.clean[r].clone(),
        ];
        for (c, face) in columns.iter().enumerate() {
            let (x0, y0) = (GAP + c * (cell + GAP), GAP + r * (cell + GAP));
            for y in 0..cell {
                for x in 0..cell {
                    let v = face[(y / SCALE) * SIDE + x / SCALE];
                    canvas.put_pixel((x0 + x) as u32, (y0 + y) as u32, image::Luma([v]));
                }
            }
        }
    }
    canvas.save(path).map_err(|e| EnhancerError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faces(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|k| {
                (0..SIDE * SIDE)
                    .map(|i| {
                        let (x, y) = ((i % SIDE) as f32, (i / SIDE) as f32);
                        (120.0 + 50.0 * ((x + k as f32) / 5.0).sin() * (y / 7.0).cos()) as u8
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_short_run_learns_saves_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let config = EnhancerConfig {
            spec: FfaSpec {
                channels: 4,
                groups: 1,
                blocks: 1,
                reduction: 2,
            },
            epochs: 2,
            batch_size: 8,
            lr: 2e-3,
            ..EnhancerConfig::default()
        };
        let train = faces(32);
        let val = EvalSet::new(&faces(8), 7);
        let stop = AtomicBool::new(false);
        let first = fit(
            &EnhancerConfig {
                epochs: 1,
                ..config.clone()
            },
            &train,
            &val,
            dir.path(),
            false,
            &stop,
        )
        .unwrap();
        assert_eq!(first.epochs_done, 1);
        let resumed = fit(&config, &train, &val, dir.path(), true, &stop).unwrap();
        assert_eq!(resumed.epochs_done, 2);
        // The first epoch's figures come back from state.json (JSON keeps them to the last bit
        // or one unit in the last place).
        let (a, b) = (resumed.history[0], first.history[0]);
        assert!(
            (a.train_l1 - b.train_l1).abs() < 1e-12 && a.val_psnr == b.val_psnr,
            "{a:?} {b:?}"
        );
        // The run from scratch gives the same second epoch: resume is exact.
        let again = tempfile::tempdir().unwrap();
        let straight = fit(&config, &train, &val, again.path(), false, &stop).unwrap();
        assert_eq!(straight.history[1].train_l1, resumed.history[1].train_l1);
        assert!(dir.path().join("metrics.csv").is_file() && dir.path().join("curves.png").is_file());
        let best = best_dir(dir.path());
        let state = load_state(&best).unwrap();
        let net = load_net(&best, &state, &Device::flex()).unwrap();
        let rows = compare(&net, &val, &Device::flex());
        assert_eq!(rows[0].faces, 8);
        assert!(comparison_table(&rows).contains("| all | 8 |"));
        let grid = dir.path().join("samples.png");
        sample_grid(&grid, &net, &val, 3, &Device::flex()).unwrap();
        let png = image::open(&grid).unwrap();
        assert_eq!(png.width() as usize, 4 * 96 + 5 * 4);
    }

    #[test]
    fn bad_settings_are_refused_before_training() {
        let dir = tempfile::tempdir().unwrap();
        let val = EvalSet::new(&faces(2), 1);
        let stop = AtomicBool::new(false);
        let zero = EnhancerConfig {
            epochs: 0,
            ..EnhancerConfig::default()
        };
        assert!(matches!(
            fit(&zero, &faces(4), &val, dir.path(), false, &stop),
            Err(EnhancerError::Config(_))
        ));
        assert!(matches!(
            fit(&EnhancerConfig::default(), &[], &val, dir.path(), false, &stop),
            Err(EnhancerError::Config(_))
        ));
    }
}
