//! The tract backend: runs the exported ONNX model (fp32 or int8) on the CPU.
//!
//! The model is parsed, given its concrete 1x1x48x48 input, optimised once at load and
//! reused for every frame; each call allocates only the input tensor tract consumes.

use std::path::Path;
use std::sync::Arc;

use shared::labels::softmax_at;
use shared::wire::ModelManifest;
use shared::{INPUT_SIZE, NUM_CLASSES};
use tract_onnx::prelude::*;

use super::{Classifier, InferenceError, check_input};

/// An optimised tract plan for one model.
pub struct TractClassifier {
    plan: Arc<TypedRunnableModel>,
    manifest: ModelManifest,
}

fn backend(e: TractError) -> InferenceError {
    InferenceError::Backend(format!("{e:#}"))
}

impl TractClassifier {
    /// Loads a model after checking it against its manifest (see [`artifacts::manifest`]).
    pub fn load(path: &Path) -> Result<Self, InferenceError> {
        let (bytes, manifest) = artifacts::manifest::load_verified(path)?;
        Self::from_bytes(path, &bytes, manifest)
    }

    /// Parses and optimises ONNX bytes; `path` is only used in error messages.
    pub fn from_bytes(path: &Path, bytes: &[u8], manifest: ModelManifest) -> Result<Self, InferenceError> {
        let load = |reason: String| InferenceError::Load {
            path: path.display().to_string(),
            reason,
        };
        let plan = artifacts::onnx::load_plan(bytes, [1, INPUT_SIZE, INPUT_SIZE])
            .map_err(|e| load(format!("not a usable ONNX model for 1x1x48x48 input: {e:#}")))?;
        let output = plan.model().output_fact(0).map_err(|e| load(format!("{e:#}")))?;
        let classes = output.shape.as_concrete().map(|s| s.iter().product::<usize>());
        if classes != Some(NUM_CLASSES) {
            return Err(load(format!(
                "model output shape {:?}, expected {NUM_CLASSES} classes",
                output.shape
            )));
        }
        Ok(TractClassifier { plan, manifest })
    }

    /// The manifest the model was loaded with.
    pub fn manifest(&self) -> &ModelManifest {
        &self.manifest
    }

    /// Raw logits for one normalised 48x48 face.
    pub fn logits(&self, input: &[f32]) -> Result<[f32; NUM_CLASSES], InferenceError> {
        check_input(input)?;
        let tensor = Tensor::from_shape(&[1, 1, INPUT_SIZE, INPUT_SIZE], input).map_err(backend)?;
        let outputs = self.plan.run(tvec!(tensor.into())).map_err(backend)?;
        let view = outputs[0]
            .try_as_plain_ram()
            .and_then(|v| v.as_slice::<f32>())
            .map_err(backend)?;
        view.try_into()
            .map_err(|_| InferenceError::InvalidOutput(format!("{} logits", view.len())))
    }
}

impl Classifier for TractClassifier {
    fn classify(&mut self, input: &[f32]) -> Result<[f32; NUM_CLASSES], InferenceError> {
        let logits = self.logits(input)?;
        if logits.iter().any(|v| !v.is_finite()) {
            return Err(InferenceError::InvalidOutput(format!("non-finite logits {logits:?}")));
        }
        Ok(softmax_at(&logits, self.manifest.temperature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_bytes_are_a_load_error() {
        let manifest = artifacts::manifest::for_tests();
        let err = TractClassifier::from_bytes(Path::new("bad.onnx"), b"not onnx at all", manifest)
            .err()
            .unwrap();
        assert!(err.to_string().contains("bad.onnx"), "{err}");
    }
}
