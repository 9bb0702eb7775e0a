//! From a frame and a face box to the classifier's input, exactly as the model was trained:
//! crop and resize, the learned enhancer when the model's manifest names one, the recipe's
//! classical enhancement (CLAHE, equalisation or none), scaling. One path for
//! `edge classify` and the alert loop, so the two cannot feed a model differently.

use std::path::Path;

use artifacts::enhancer::Enhancer;
pub use artifacts::enhancer::FaceError;
use shared::preprocess::Preprocessing;
use shared::wire::ModelManifest;
use shared::{FaceBox, GrayImage};

use super::InferenceError;

/// The preparation of faces for one model.
#[derive(Debug)]
pub struct FacePipeline {
    preprocessing: Preprocessing,
    enhancer: Option<Enhancer>,
}

impl FacePipeline {
    /// Classical preprocessing only (a model trained without a learned enhancer).
    pub fn new(preprocessing: Preprocessing) -> Self {
        FacePipeline {
            preprocessing,
            enhancer: None,
        }
    }

    /// The pipeline `model` was trained with: `preprocessing` (the manifest's, or a config
    /// that matches it) and, when the manifest names one, its enhancer, loaded from beside
    /// the model and refused unless its hash is the one the manifest recorded.
    pub fn for_model(
        model: &Path,
        manifest: &ModelManifest,
        preprocessing: Preprocessing,
    ) -> Result<Self, InferenceError> {
        let enhancer = match &manifest.enhancer {
            None => None,
            Some(named) => Some(Enhancer::load_for(model, named)?),
        };
        Ok(FacePipeline {
            preprocessing,
            enhancer,
        })
    }

    /// Puts `enhancer` in front of a model trained without one: crops are restored by it,
    /// then get the recipe's classical enhancement, as for a model trained behind it.
    /// `host robustness --add-enhancer` measures what this does to a model's accuracy on clean
    /// and degraded faces. Refused when the model already runs behind an enhancer.
    pub fn in_front(self, enhancer: Enhancer) -> Result<Self, InferenceError> {
        if let Some(own) = &self.enhancer {
            return Err(InferenceError::Enhancers {
                added: enhancer.path().display().to_string(),
                own: own.path().display().to_string(),
            });
        }
        Ok(FacePipeline {
            enhancer: Some(enhancer),
            ..self
        })
    }

    /// The learned enhancer in the pipeline, if any.
    pub fn enhancer(&self) -> Option<&Enhancer> {
        self.enhancer.as_ref()
    }

    /// The prepared 48x48 grey face (before scaling).
    pub fn face(&self, frame: &GrayImage, face: FaceBox) -> Result<GrayImage, FaceError> {
        match &self.enhancer {
            None => Ok(self.preprocessing.face(frame, face)?),
            Some(enhancer) => Ok(enhancer.prepare(
                &self.preprocessing.cropped(frame, face)?,
                self.preprocessing.enhancement,
            )?),
        }
    }

    /// Writes the scaled network input for the face into `out` (48x48 values).
    pub fn input_into(&self, frame: &GrayImage, face: FaceBox, out: &mut [f32]) -> Result<(), FaceError> {
        let prepared = self.face(frame, face)?;
        Ok(self.preprocessing.normalize_into(&prepared, out)?)
    }

    /// The scaled network input for the face.
    pub fn input(&self, frame: &GrayImage, face: FaceBox) -> Result<Vec<f32>, FaceError> {
        Ok(self.preprocessing.normalize(&self.face(frame, face)?))
    }
}
