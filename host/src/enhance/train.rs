//! Training the enhancer: L1 between the restored and the clean face (as FFA-Net), Adam with
//! a cosine schedule, one freshly degraded copy of every training face per epoch, the
//! checkpoint of the best validation PSNR kept. A run directory holds
//! `checkpoints/{last,best}/` (weights, optimiser, `state.json`), `metrics.csv`,
//! `curves.png`, and after the last epoch `report.md` and `samples.png`.
//!
//! Validation faces are degraded once ([`EvalSet`]), so every epoch is measured on the same
//! faces.

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
use shared::enhancer::FfaSpec;

use super::SIDE;
use super::degrade;
use super::eval::{EvalSet, Quality, mean_quality, restore_all};
use super::network::{FfaNet, faces_tensor};
use crate::train::checkpoint::{self, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE, best_dir, last_dir};
use crate::train::optim::FusedAdam;
use crate::train::{Schedule, ScheduleKind};

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

#[cfg(test)]
mod tests;
