//! Weight averaging (SWA: Izmailov et al., "Averaging Weights Leads to Wider Optima and Better
//! Generalization", 2018): the running mean of the weights at the end of every epoch from
//! `--average-from` on, validated and checkpointed beside the model being trained.
//!
//! Why: averaging the predictions of several snapshots of this network beats each snapshot on
//! validation, but the edge runs one network. Snapshots taken along one trajectory (e.g. at a
//! fixed learning rate after a cosine cycle) lie in one basin, where the mean of their weights
//! computes close to the mean of their predictions, in one network of the same size and cost.
//!
//! BatchNorm: the running statistics of averaged weights are not those of the averaged
//! network. Every time the average is evaluated it is rebuilt as a fresh network and its
//! statistics are measured again ([`refreshed`]) by forward passes in training mode over a
//! seeded sample of [`REFRESH_IMAGES`] un-augmented training images (the faces as the network
//! will see them), starting from the averaged statistics. The refresh draws from its own seeded
//! generator, so a resumed run's average validates exactly as an uninterrupted one's.
//!
//! The average itself is plain values (one vector per float tensor, in burn's visiting order,
//! BatchNorm's running statistics included), so folding in a snapshot is exact arithmetic
//! and independent of burn's module sharing.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::error::TrainError;
use super::images::ImageSet;
use crate::model::{ModelError, Network, batch_to_tensor};

/// Training images whose forward passes re-measure an average's BatchNorm statistics (with
/// burn's momentum of 0.1, 64 batches of 64 leave 0.1% of the starting statistics).
pub const REFRESH_IMAGES: usize = 4096;

/// Mixed into the run seed for the refresh's sample and dropout, so that they do not repeat
/// the training order's draws.
const REFRESH_SEED_SALT: u64 = 0x5357_4121;

/// What the checkpoint state records of a run's average (the values go beside it, in
/// [`super::checkpoint::AVERAGE_FILE`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AverageState {
    /// Snapshots averaged so far (one per epoch from `--average-from` on).
    pub models: usize,
    /// The average's validation after each epoch it changed.
    pub history: Vec<AverageMetrics>,
}

/// The average's validation after one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AverageMetrics {
    /// The epoch (1-based) whose end added the last snapshot.
    pub epoch: usize,
    /// Snapshots in the average.
    pub models: usize,
    /// Validation loss.
    pub val_loss: f64,
    /// Validation accuracy (0..1).
    pub val_acc: f64,
}

impl super::CsvRow for AverageMetrics {
    const CSV_HEADER: &'static str = "epoch,models,val_loss,val_acc";

    fn csv_row(&self) -> String {
        format!(
            "{},{},{:.6},{:.6}",
            self.epoch, self.models, self.val_loss, self.val_acc
        )
    }
}

struct Collect(Vec<Vec<f32>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().into_data().iter::<f32>().collect());
    }
}

/// The float tensors of `model` (weights and BatchNorm statistics) as plain values, in burn's
/// visiting order.
pub fn float_tensors(model: &Network) -> Vec<Vec<f32>> {
    let mut collect = Collect(Vec::new());
    model.visit(&mut collect);
    collect.0
}

struct Replace<'a> {
    values: &'a [Vec<f32>],
    next: usize,
    mismatch: Option<String>,
}

impl ModuleMapper for Replace<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let index = self.next;
        self.next += 1;
        let Some(values) = self.values.get(index) else {
            self.mismatch
                .get_or_insert_with(|| format!("no values for tensor {index}"));
            return param;
        };
        param.map(|t| {
            let shape = t.shape();
            if shape.num_elements() != values.len() {
                self.mismatch.get_or_insert_with(|| {
                    format!(
                        "tensor {index} has {} values, {} given",
                        shape.num_elements(),
                        values.len()
                    )
                });
                return t;
            }
            let require_grad = t.is_require_grad();
            let device = t.device();
            Tensor::from_data(TensorData::new(values.clone(), shape), &device).set_require_grad(require_grad)
        })
    }
}

/// `model` with its float tensors replaced by `values` (as [`float_tensors`] lists them).
pub fn with_float_tensors(model: Network, values: &[Vec<f32>]) -> Result<Network, ModelError> {
    let mut replace = Replace {
        values,
        next: 0,
        mismatch: None,
    };
    let model = model.map(&mut replace);
    if let Some(why) = replace.mismatch {
        return Err(ModelError::Unsupported(format!("averaged weights: {why}")));
    }
    if replace.next != values.len() {
        return Err(ModelError::Unsupported(format!(
            "averaged weights: {} tensors for a network of {}",
            values.len(),
            replace.next
        )));
    }
    Ok(model)
}

/// Folds one more snapshot into the running mean of `models` snapshots: `mean += (x - mean) /
/// (models + 1)`, element by element. `mean` and `x` list the same tensors.
pub fn fold_in(mean: &mut [Vec<f32>], x: &[Vec<f32>], models: usize) {
    let w = 1.0 / (models as f64 + 1.0);
    for (m, x) in mean.iter_mut().zip(x) {
        for (m, &x) in m.iter_mut().zip(x) {
            *m = (f64::from(*m) + (f64::from(x) - f64::from(*m)) * w) as f32;
        }
    }
}

/// The averaged network ready to evaluate (inference mode): `values` in a fresh network on the
/// training `device`, its BatchNorm statistics re-measured on a seeded sample of
/// [`REFRESH_IMAGES`] of `train` (each image at most once when there are that many) in
/// batches of `batch`.
pub fn refreshed(
    arch: &shared::arch::Architecture,
    values: &[Vec<f32>],
    train: &ImageSet,
    batch: usize,
    seed: u64,
    device: &Device,
) -> Result<Network, TrainError> {
    // Without gradients the autodiff device records no graph of these forward passes (one
    // would hold every batch's activations, as nothing runs backward to free them); BatchNorm
    // still takes its training path.
    if train.is_empty() {
        return Err(TrainError::EmptySplit("training"));
    }
    let model = with_float_tensors(Network::new(arch, device)?, values)?.no_grad();
    let seed = seed ^ REFRESH_SEED_SALT;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // A training set smaller than the sample is passed through more than once.
    let order: Vec<usize> = train
        .shuffled(&mut rng)
        .into_iter()
        .cycle()
        .take(REFRESH_IMAGES)
        .collect();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    device.seed(seed);
    for chunk in order.chunks(batch.max(1)) {
        train.gather(chunk, &mut xs, &mut ys);
        let x = batch_to_tensor(model.arch(), &xs, chunk.len(), device)?;
        // Training mode on the autodiff device: BatchNorm normalises with the batch's moments
        // and moves its running statistics towards them.
        drop(model.forward(x));
    }
    Ok(model.valid())
}
