//! The training loop: steps with seeded augmentation, per-epoch validation (overall and per
//! dataset), schedule, checkpoints, progress bar, Ctrl-C. What a step minimises and with which
//! optimiser is [`super::objective`]; how a run fails is [`super::error`].
//!
//! Reproducibility: the device RNG (initialisation) is seeded with the run seed; each batch
//! reseeds it (dropout) from `seed`, the epoch and the batch, and each epoch derives its
//! shuffle and augmentation RNG from `seed` and the epoch number. A checkpoint written in the
//! middle of an epoch ([`PartialEpoch`]: every `save_every`, and when stopped) records the
//! batch and the RNG's position, so a resumed run trains exactly as an uninterrupted one would
//! and a killed one loses at most `save_every` of work.
//!
//! Longer than most modules on purpose: the loop, its two kinds of checkpoint and the choice
//! of the best epoch all read and write the one run state, and are easiest to check together.

use std::path::Path;
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shared::arch::Architecture;

use super::average::{self, AverageMetrics};
use super::checkpoint::{self, Best, CHECKPOINT_FORMAT_VERSION, CheckpointError, CheckpointState, PartialEpoch};
use super::config::TrainConfig;
pub use super::error::TrainError;
use super::images::ImageSet;
use super::init;
use super::objective::{optimizer_for, soft_cross_entropy};
use super::resources::{check_batch_memory, device_for};
use super::schedule::Schedule;
use super::{EpochMetrics, write_csv};
use crate::eval::evaluate;
use crate::eval::pass::argmax_rows;
use crate::model::{Network, batch_to_tensor};

/// Images per inference batch during validation and evaluation.
pub const EVAL_BATCH: usize = 128;

/// What [`Trainer::fit`] ended with.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The final state (also in `checkpoints/last`).
    pub state: CheckpointState,
    /// The model of the best validation epoch (inference mode); the last model if no epoch
    /// completed.
    pub best_model: Network,
    /// Stopped by Ctrl-C.
    pub interrupted: bool,
    /// Why training stopped before the configured epochs, if it did.
    pub stopped_early: Option<String>,
}

/// Result of one epoch's training pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochTrain {
    /// Mean loss over batches.
    pub loss: f64,
    /// Accuracy over images.
    pub acc: f64,
    /// Images trained on.
    pub images: usize,
    /// Seconds spent.
    pub seconds: f64,
    /// Where the epoch stood when a stop was requested before its end.
    pub stopped: Option<PartialEpoch>,
}

/// A model, its optimiser and the run's state.
pub struct Trainer {
    /// The run's configuration.
    pub config: TrainConfig,
    /// The autodiff device.
    pub device: Device,
    /// The model being trained.
    pub model: Network,
    /// Adam.
    pub optimizer: ModuleOptimizer,
    /// The run's state (history, best, next rate).
    pub state: CheckpointState,
    /// Write `checkpoints/last` in the middle of an epoch after this long (`None`: at
    /// epoch ends and when stopped only).
    pub save_every: Option<Duration>,
    schedule: Schedule,
    best_model: Option<Network>,
    /// The weight average's values ([`super::average`]) once an epoch has added to it.
    average: Option<Vec<Vec<f32>>>,
}

/// The dropout seed of batch `batch` (0-based) of `epoch`: any batch is reproducible alone.
fn batch_seed(seed: u64, epoch: usize, batch: usize) -> u64 {
    seed.wrapping_add((epoch as u64) << 32).wrapping_add(batch as u64)
}

impl Trainer {
    /// A fresh model (seeded initialisation, or `config.init_from`'s weights; an int8 model
    /// there takes its BatchNorm statistics from `train`) or, with `resume`, the checkpoint in
    /// that directory (which must hold `arch`).
    pub fn new(
        config: TrainConfig,
        arch: &Architecture,
        resume: Option<&Path>,
        train: &ImageSet,
    ) -> Result<Self, TrainError> {
        config.validate()?;
        check_batch_memory(arch, config.batch_size, config.backend)?;
        let inner = device_for(config.backend)?;
        inner.seed(config.data.seed);
        let device = inner.clone().autodiff();
        device.seed(config.data.seed);
        let schedule = config.schedule();
        let optimizer = optimizer_for(&config.optimizer);
        let (model, optimizer, state, average) = match resume {
            Some(dir) => {
                let mut state = checkpoint::load_state(dir, Some(arch))?;
                let model = checkpoint::load_model(dir, &state, &device)?;
                let optimizer = checkpoint::load_optimizer(dir, optimizer)?;
                let average = checkpoint::load_average(dir, &state, &device)?;
                let within = match (state.partial, state.interrupted) {
                    (Some(p), _) => format!(" and {} batch(es) of epoch {}", p.batches, p.epoch),
                    (None, true) => " (stopped mid-epoch by an older version: that epoch restarts)".to_string(),
                    (None, false) => String::new(),
                };
                tracing::info!(
                    "resuming from {} after {} epoch(s){within}",
                    dir.display(),
                    state.epochs_done
                );
                state.config = state.config.resumed(&config);
                state.interrupted = false;
                (model, optimizer, state, average)
            }
            None => {
                let model = init::initial_model(config.init_from.as_deref(), arch, &device, &config.data, train)?;
                let state = CheckpointState {
                    format_version: CHECKPOINT_FORMAT_VERSION,
                    architecture: arch.clone(),
                    config: config.clone(),
                    epochs_done: 0,
                    next_lr: schedule.initial(),
                    history: Vec::new(),
                    best: None,
                    interrupted: false,
                    partial: None,
                    average: None,
                };
                (model, optimizer, state, None)
            }
        };
        let config = state.config.clone();
        Ok(Trainer {
            schedule: config.schedule(),
            config,
            device,
            model,
            optimizer,
            state,
            save_every: None,
            best_model: None,
            average,
        })
    }

    /// One optimiser step on a batch with hard labels: returns the batch's mean loss and
    /// correct predictions.
    pub fn step(&mut self, inputs: &[f32], labels: &[i64], lr: f64) -> Result<(f64, usize), TrainError> {
        const K: usize = shared::NUM_CLASSES;
        let mut targets = vec![0.0; labels.len() * K];
        for (row, &label) in targets.chunks_exact_mut(K).zip(labels) {
            if let Some(t) = usize::try_from(label).ok().and_then(|l| row.get_mut(l)) {
                *t = 1.0;
            }
        }
        self.step_soft(inputs, &targets, labels, lr)
    }

    /// One optimiser step against target distributions (`labels.len() x NUM_CLASSES` values;
    /// `labels` only count correct predictions): the batch's mean loss and correct predictions.
    pub fn step_soft(
        &mut self,
        inputs: &[f32],
        targets: &[f32],
        labels: &[i64],
        lr: f64,
    ) -> Result<(f64, usize), TrainError> {
        let n = labels.len();
        let x = batch_to_tensor(self.model.arch(), inputs, n, &self.device)?;
        let classes = self.model.num_classes();
        if targets.len() != n * classes {
            return Err(TrainError::Targets {
                values: targets.len(),
                images: n,
                classes,
            });
        }
        let t = Tensor::<2>::from_data(TensorData::new(targets.to_vec(), [n, classes]), &self.device);
        let logits = self.model.forward(x);
        let loss = soft_cross_entropy(logits.clone(), t);
        let loss_value: f32 = loss.clone().into_scalar();
        let predictions = argmax_rows(logits);
        let correct = predictions
            .iter()
            .zip(labels)
            .filter(|&(&p, &t)| i64::from(p) == t)
            .count();
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optimizer.step(lr, self.model.clone(), grads);
        Ok((f64::from(loss_value), correct))
    }

    /// Trains one epoch (1-based `epoch`) at `lr` over `train` in a seeded shuffled order
    /// (oversampled datasets repeated), from where [`CheckpointState::partial`] says it
    /// stood when that is this epoch. `stop` is asked before every batch.
    pub fn train_epoch(
        &mut self,
        train: &ImageSet,
        epoch: usize,
        lr: f64,
        stop: &dyn Fn() -> bool,
    ) -> Result<EpochTrain, TrainError> {
        let seed = self.config.data.seed;
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let order = train.shuffled_repeated(&mut rng, |d| self.config.times(d));
        let batches = order.len().div_ceil(self.config.batch_size);
        let mut done = match self.state.partial.take().filter(|p| p.epoch == epoch) {
            Some(p) => {
                rng.set_word_pos(u128::from(p.rng_words));
                p
            }
            None => PartialEpoch {
                epoch,
                batches: 0,
                rng_words: 0,
                loss_sum: 0.0,
                correct: 0,
                images: 0,
                seconds: 0.0,
            },
        };
        let bar = crate::progress::bar(batches as u64, format!("epoch {epoch}/{}", self.config.epochs));
        bar.set_position(done.batches as u64);
        let (started, before) = (Instant::now(), done.seconds);
        let mut last_save = started;
        let (mut xs, mut ys, mut ts, mut scratch) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (row, height) = match self.model.arch().input {
            shared::arch::Shape::Spatial { w, h, .. } => (w, h),
            shared::arch::Shape::Flat(n) => (n, 1),
        };
        let range = self.config.data.preprocessing.normalization.range();
        let augment = self.config.augment;
        let mut stopped = None;
        for (b, chunk) in order.chunks(self.config.batch_size).enumerate().skip(done.batches) {
            if stop() {
                stopped = Some(done);
                break;
            }
            self.device.seed(batch_seed(seed, epoch, b));
            train.gather(chunk, &mut xs, &mut ys);
            if self.config.flip {
                ImageSet::mirror(&mut xs, train.per_image, row, || rng.random_bool(0.5));
            }
            if augment.is_on() && train.per_image == row * height {
                for image in xs.chunks_exact_mut(train.per_image) {
                    augment.apply(image, row, height, range, &mut rng, &mut scratch);
                }
            }
            train.gather_targets(chunk, self.config.labels, self.config.label_smoothing, &mut ts);
            if self.config.mixup > 0.0 {
                super::mixup::mix(
                    &mut xs,
                    &mut ts,
                    train.per_image,
                    shared::NUM_CLASSES,
                    self.config.mixup,
                    &mut rng,
                    &mut scratch,
                );
            }
            let (loss, ok) = self.step_soft(&xs, &ts, &ys, lr)?;
            if !loss.is_finite() {
                bar.abandon();
                return Err(TrainError::Diverged { epoch, loss });
            }
            done.batches = b + 1;
            done.rng_words = u64::try_from(rng.get_word_pos()).unwrap_or(u64::MAX);
            done.loss_sum += loss;
            done.correct += ok;
            done.images += chunk.len();
            done.seconds = before + started.elapsed().as_secs_f64();
            bar.set_message(format!(
                "loss {:.4} acc {:5.1}% lr {:.2e} {:.1} img/s",
                done.loss_sum / done.batches as f64,
                100.0 * done.correct as f64 / done.images as f64,
                lr,
                done.images as f64 / done.seconds.max(1e-9)
            ));
            bar.inc(1);
            if done.batches < batches && self.save_every.is_some_and(|every| last_save.elapsed() >= every) {
                self.save_within(done)?;
                last_save = Instant::now();
            }
        }
        bar.finish();
        Ok(EpochTrain {
            loss: done.loss_sum / done.batches.max(1) as f64,
            acc: done.correct as f64 / done.images.max(1) as f64,
            images: done.images,
            seconds: done.seconds,
            stopped,
        })
    }

    /// Writes `checkpoints/last` at an epoch's end.
    fn save_last(&self) -> Result<(), TrainError> {
        self.save_last_as(&self.state)
    }

    /// Writes `checkpoints/last` inside an epoch: the weights so far, marked interrupted, with
    /// where the epoch stands, so that `--resume` continues from that batch.
    fn save_within(&self, partial: PartialEpoch) -> Result<(), TrainError> {
        self.save_last_as(&CheckpointState {
            partial: Some(partial),
            interrupted: true,
            ..self.state.clone()
        })
    }

    fn save_last_as(&self, state: &CheckpointState) -> Result<(), TrainError> {
        let dir = checkpoint::last_dir(&self.config.out_dir);
        checkpoint::save(&dir, &self.model, Some(&self.optimizer), self.average.as_deref(), state)?;
        Ok(())
    }

    /// Folds this epoch's weights into the average, validates the average (BatchNorm
    /// statistics re-measured), records it in the state and `average.csv`, and makes it the
    /// best checkpoint when it beats every epoch so far.
    fn average_epoch(&mut self, epoch: usize, train: &ImageSet, val: &ImageSet) -> Result<(), TrainError> {
        let snapshot = average::float_tensors(&self.model.valid());
        let mut state = self.state.average.clone().unwrap_or_default();
        let mean = match self.average.take() {
            Some(mut mean) => {
                average::fold_in(&mut mean, &snapshot, state.models);
                mean
            }
            None => snapshot,
        };
        let values = self.average.insert(mean);
        state.models += 1;
        let model = average::refreshed(
            self.model.arch(),
            values,
            train,
            self.config.batch_size,
            self.config.data.seed,
            &self.device,
        )?;
        let validation = evaluate(&model, val, EVAL_BATCH)?;
        let row = AverageMetrics {
            epoch,
            models: state.models,
            val_loss: validation.loss,
            val_acc: validation.accuracy(),
        };
        tracing::info!(
            "epoch {epoch}: average of {} snapshot(s): val loss {:.4} acc {:.2}%",
            row.models,
            row.val_loss,
            100.0 * row.val_acc
        );
        state.history.push(row);
        let path = self.config.out_dir.join("average.csv");
        write_csv(&path, &state.history).map_err(|source| TrainError::Io { path, source })?;
        self.state.average = Some(state);
        let best = Best {
            epoch,
            val_acc: row.val_acc,
            val_loss: row.val_loss,
            averaged: Some(row.models),
        };
        if self.beats_best(&best) {
            self.keep_best(best, model)?;
        }
        Ok(())
    }

    /// Whether `candidate` beats the best so far (higher validation accuracy, ties broken by
    /// lower loss).
    fn beats_best(&self, candidate: &Best) -> bool {
        self.state
            .best
            .is_none_or(|b| b.beaten_by(candidate.val_acc, candidate.val_loss))
    }

    /// Records `best` and writes `model` (inference mode) as `checkpoints/best`.
    fn keep_best(&mut self, best: Best, model: Network) -> Result<(), TrainError> {
        self.state.best = Some(best);
        checkpoint::save(
            &checkpoint::best_dir(&self.config.out_dir),
            &model,
            None,
            None,
            &self.state,
        )?;
        self.best_model = Some(model);
        Ok(())
    }

    /// Trains until the configured epochs are done, the rate reaches 0, or `stop` is set;
    /// validates and checkpoints every epoch and writes `metrics.csv` in the run directory.
    pub fn fit(
        mut self,
        train: &ImageSet,
        val: &ImageSet,
        stop: &dyn Fn() -> bool,
    ) -> Result<TrainOutcome, TrainError> {
        if train.is_empty() {
            return Err(TrainError::EmptySplit("training"));
        }
        if val.is_empty() {
            return Err(TrainError::EmptySplit("validation"));
        }
        let out = self.config.out_dir.clone();
        std::fs::create_dir_all(&out).map_err(|source| TrainError::Io {
            path: out.clone(),
            source,
        })?;
        let metrics_path = out.join("metrics.csv");
        let mut stopped_early = None;
        let mut interrupted = false;
        while self.state.epochs_done < self.config.epochs {
            let lr = self.state.next_lr;
            if lr <= 0.0 {
                stopped_early = Some(format!(
                    "learning rate reached 0 after epoch {}",
                    self.state.epochs_done
                ));
                break;
            }
            let epoch = self.state.epochs_done + 1;
            let trained = self.train_epoch(train, epoch, lr, stop)?;
            if let Some(partial) = trained.stopped {
                self.save_within(partial)?;
                tracing::warn!(
                    "interrupted in epoch {epoch}; checkpoint saved to {} (resume with --resume)",
                    checkpoint::last_dir(&out).display()
                );
                interrupted = true;
                break;
            }
            let validating = Instant::now();
            let validation = evaluate(&self.model, val, EVAL_BATCH)?;
            let row = EpochMetrics {
                epoch,
                train_loss: trained.loss,
                train_acc: trained.acc,
                val_loss: validation.loss,
                val_acc: validation.accuracy(),
                lr,
                seconds: trained.seconds + validating.elapsed().as_secs_f64(),
                ms_per_image: 1000.0 * trained.seconds / trained.images.max(1) as f64,
            };
            tracing::info!(
                "epoch {epoch}/{}: train loss {:.4} acc {:.2}% | val loss {:.4} acc {:.2}% | lr {:.2e} | {:.1} s, {:.1} ms/image",
                self.config.epochs,
                row.train_loss,
                100.0 * row.train_acc,
                row.val_loss,
                100.0 * row.val_acc,
                lr,
                row.seconds,
                row.ms_per_image
            );
            let by_dataset = val.hits_by_dataset(&validation.predictions);
            if by_dataset.len() > 1 {
                let text: Vec<String> = by_dataset
                    .iter()
                    .map(|&(kind, right, all)| {
                        format!("{kind} {:.2}% of {all}", 100.0 * right as f64 / all.max(1) as f64)
                    })
                    .collect();
                tracing::info!("epoch {epoch} validation by dataset: {}", text.join(", "));
            }
            self.state.history.push(row);
            self.state.epochs_done = epoch;
            let losses: Vec<f64> = self.state.history.iter().map(|m| m.val_loss).collect();
            self.state.next_lr = self.schedule.next(lr, epoch, &losses);
            if self.state.next_lr != lr {
                tracing::info!("learning rate {lr:.2e} -> {:.2e}", self.state.next_lr);
            }
            let best = Best {
                epoch,
                val_acc: row.val_acc,
                val_loss: row.val_loss,
                averaged: None,
            };
            if self.beats_best(&best) {
                let model = self.model.valid();
                self.keep_best(best, model)?;
            }
            if self.config.average_from.is_some_and(|from| epoch >= from) {
                self.average_epoch(epoch, train, val)?;
            }
            self.save_last()?;
            write_csv(&metrics_path, &self.state.history).map_err(|source| TrainError::Io {
                path: metrics_path.clone(),
                source,
            })?;
        }
        let best_model = match self.best_model.take() {
            Some(m) => m,
            None => {
                // Resumed runs keep their best on disk. Only a run that never finished an
                // epoch has none; a best checkpoint that exists but cannot be read is an
                // error, never silently replaced by the last model in the report.
                let dir = checkpoint::best_dir(&out);
                match checkpoint::load_state(&dir, Some(&self.state.architecture)) {
                    Ok(state) => checkpoint::load_model(&dir, &state, &self.device)?.valid(),
                    Err(CheckpointError::Missing(_)) if self.state.best.is_none() => {
                        tracing::warn!("no epoch finished: reporting the last model");
                        self.model.valid()
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        Ok(TrainOutcome {
            state: self.state,
            best_model,
            interrupted,
            stopped_early,
        })
    }
}
