//! The classifier seen from the alert loop: a 48x48 normalised face in, seven class
//! probabilities out.
//!
//! The loop only knows this trait, so it can be tested with scripted classifiers and run with
//! whichever backend the board has. [`load`] picks the backend for a model file; a model it
//! cannot serve is an error, never a made-up result.

pub mod face;
#[cfg(feature = "tflite")]
pub mod tflite;
pub mod tflite_io;
pub mod tract;

use std::path::Path;

use shared::wire::ModelManifest;
use shared::{INPUT_PIXELS, NUM_CLASSES};

/// Why a classification failed.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    /// No backend can run this model file.
    #[error("no inference backend for {0}")]
    NoBackend(String),
    /// The model's manifest is missing or refuses the model.
    #[error(transparent)]
    Manifest(#[from] artifacts::manifest::ManifestError),
    /// The model file could not be read or parsed.
    #[error("loading model {path}: {reason}")]
    Load {
        /// The model file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The input is not 48x48 values.
    #[error("input holds {actual} values, expected {expected}")]
    InputLength {
        /// [`INPUT_PIXELS`].
        expected: usize,
        /// Given length.
        actual: usize,
    },
    /// The model produced something that is not a probability vector.
    #[error("invalid classifier output: {0}")]
    InvalidOutput(String),
    /// The backend failed while running.
    #[error("inference failed: {0}")]
    Backend(String),
    /// A learned enhancer was put in front of a model that already runs behind its own.
    #[error("the enhancer {added} cannot go in front of a model trained behind the enhancer {own}")]
    Enhancers {
        /// The enhancer asked for.
        added: String,
        /// The model's own.
        own: String,
    },
}

/// A face-expression classifier.
pub trait Classifier {
    /// Classifies one face: `input` is the 48x48 preprocessed, normalised face (row-major,
    /// [`INPUT_PIXELS`] values); returns probabilities in [`shared::Emotion::ALL`] order.
    fn classify(&mut self, input: &[f32]) -> Result<[f32; NUM_CLASSES], InferenceError>;
}

impl<C: Classifier + ?Sized> Classifier for Box<C> {
    fn classify(&mut self, input: &[f32]) -> Result<[f32; NUM_CLASSES], InferenceError> {
        (**self).classify(input)
    }
}

/// Checks that `probs` is a probability vector (finite, in 0..=1, summing to 1 within 1%),
/// so a broken model is caught at the loop rather than steering the policy.
pub fn check_probabilities(probs: &[f32; NUM_CLASSES]) -> Result<(), InferenceError> {
    if let Some(p) = probs.iter().find(|p| !p.is_finite() || !(0.0..=1.0).contains(*p)) {
        return Err(InferenceError::InvalidOutput(format!("value {p} is not a probability")));
    }
    let sum: f32 = probs.iter().sum();
    if (sum - 1.0).abs() > 0.01 {
        return Err(InferenceError::InvalidOutput(format!("probabilities sum to {sum}")));
    }
    Ok(())
}

/// Checks an input slice's length.
pub fn check_input(input: &[f32]) -> Result<(), InferenceError> {
    if input.len() != INPUT_PIXELS {
        return Err(InferenceError::InputLength {
            expected: INPUT_PIXELS,
            actual: input.len(),
        });
    }
    Ok(())
}

/// Loads the classifier for a model file whose manifest matches it: an ONNX model (fp32 or
/// int8) runs on tract, a `.tflite` model on TensorFlow Lite when the `tflite` feature is
/// built in; any other file is refused with [`InferenceError::NoBackend`].
pub fn load(path: &Path) -> Result<Box<dyn Classifier>, InferenceError> {
    load_with_manifest(path).map(|(classifier, _)| classifier)
}

/// [`load`], with the manifest the model was verified against (read once, with the model).
pub fn load_with_manifest(path: &Path) -> Result<(Box<dyn Classifier>, ModelManifest), InferenceError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("onnx") => {
            let classifier = tract::TractClassifier::load(path)?;
            let manifest = classifier.manifest().clone();
            Ok((Box::new(classifier), manifest))
        }
        Some("tflite") => load_tflite(path),
        _ => Err(InferenceError::NoBackend(path.display().to_string())),
    }
}

#[cfg(feature = "tflite")]
fn load_tflite(path: &Path) -> Result<(Box<dyn Classifier>, ModelManifest), InferenceError> {
    let classifier = tflite::TfliteClassifier::load(path)?;
    let manifest = classifier.manifest().clone();
    Ok((Box::new(classifier), manifest))
}

#[cfg(not(feature = "tflite"))]
fn load_tflite(path: &Path) -> Result<(Box<dyn Classifier>, ModelManifest), InferenceError> {
    Err(InferenceError::NoBackend(format!(
        "{}: this edge was built without the `tflite` feature (see the README, \"TensorFlow Lite backend\")",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probability_checks() {
        let mut p = [0.0; NUM_CLASSES];
        p[3] = 1.0;
        assert!(check_probabilities(&p).is_ok());
        p[2] = f32::NAN;
        assert!(check_probabilities(&p).is_err());
        let logits = [2.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        assert!(check_probabilities(&logits).is_err());
        assert!(check_probabilities(&[0.1; NUM_CLASSES]).is_err());
        assert!(check_input(&[0.0; INPUT_PIXELS]).is_ok());
        assert!(matches!(
            check_input(&[0.0; 10]),
            Err(InferenceError::InputLength { actual: 10, .. })
        ));
    }

    #[test]
    fn load_refuses_unknown_and_missing_models() {
        let err = load(Path::new("models/vigil.pt")).err().expect("not an onnx file");
        assert_eq!(err.to_string(), "no inference backend for models/vigil.pt");
        let err = load(Path::new("/nonexistent/vigil-int8.onnx"))
            .err()
            .expect("missing file");
        assert!(err.to_string().contains("/nonexistent/vigil-int8.onnx"), "{err}");
    }

    #[cfg(not(feature = "tflite"))]
    #[test]
    fn tflite_models_need_the_feature() {
        let err = load(Path::new("models/vigil.tflite"))
            .err()
            .expect("no TFLite backend built in");
        assert!(matches!(err, InferenceError::NoBackend(_)), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("models/vigil.tflite") && text.contains("built without the `tflite` feature"),
            "{text}"
        );
    }

    #[cfg(feature = "tflite")]
    #[test]
    fn tflite_models_are_verified_before_tensorflow_lite_sees_them() {
        // No TensorFlow Lite call happens: the missing file stops the load first.
        let err = load(Path::new("/nonexistent/vigil.tflite"))
            .err()
            .expect("missing file");
        assert!(
            err.to_string().contains("/nonexistent/vigil.tflite: cannot read model"),
            "{err}"
        );
    }
}
