//! One inference pass of a network over an image set: mean loss, confusion matrix and
//! predictions. The trainer's per-epoch validation and every report go through it.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Device, Int, Tensor, TensorData};
use shared::arch::Shape;

use super::ConfusionMatrix;
use crate::export::Views;
use crate::model::{Network, batch_to_tensor};
use crate::train::{ImageSet, TrainError};

/// Loss, confusion matrix and predictions of a model on a set, in inference mode.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Confusion matrix of all images.
    pub confusion: ConfusionMatrix,
    /// Predicted class per image.
    pub predictions: Vec<u8>,
}

impl Evaluation {
    /// Overall accuracy (0 for an empty set).
    pub fn accuracy(&self) -> f64 {
        self.confusion.accuracy().unwrap_or(0.0)
    }
}

fn labels_tensor(labels: &[i64], device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(TensorData::new(labels.to_vec(), [labels.len()]), device)
}

pub(crate) fn argmax_rows(logits: Tensor<2>) -> Vec<u8> {
    logits.argmax(1).into_data().iter::<i64>().map(|v| v as u8).collect()
}

/// Evaluates `model` (inference mode, BatchNorm folded: [`Network::folded`]) on `set` in
/// batches of `batch`.
pub fn evaluate(model: &Network, set: &ImageSet, batch: usize) -> Result<Evaluation, TrainError> {
    evaluate_views(model, set, batch, Views::Single)
}

/// [`evaluate`] with the logits averaged over `views` of each face, as an export with those
/// views computes them ([`crate::export::views`]).
pub fn evaluate_views(model: &Network, set: &ImageSet, batch: usize, views: Views) -> Result<Evaluation, TrainError> {
    let model = model.folded();
    // A flat input has no left and right: its mirror image is itself.
    let width = match model.arch().input {
        Shape::Spatial { w, .. } => w,
        Shape::Flat(_) => 0,
    };
    let device = model.device();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut predictions = Vec::with_capacity(set.len());
    let mut loss_sum = 0.0;
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    let indices: Vec<usize> = (0..set.len()).collect();
    for chunk in indices.chunks(batch.max(1)) {
        set.gather(chunk, &mut xs, &mut ys);
        let x = batch_to_tensor(model.arch(), &xs, chunk.len(), &device)?;
        let logits = match views {
            Views::Single => model.forward(x),
            Views::Mirrored => {
                ImageSet::mirror(&mut xs, set.per_image, width, || true);
                let mirrored = batch_to_tensor(model.arch(), &xs, chunk.len(), &device)?;
                (model.forward(x) + model.forward(mirrored)) / 2.0
            }
        };
        let loss: f32 = loss_fn
            .forward(logits.clone(), labels_tensor(&ys, &device))
            .into_scalar();
        loss_sum += f64::from(loss) * chunk.len() as f64;
        predictions.extend(argmax_rows(logits));
    }
    let n = set.len().max(1) as f64;
    Ok(Evaluation {
        loss: loss_sum / n,
        confusion: ConfusionMatrix::from_predictions(&set.labels, &predictions),
        predictions,
    })
}
