//! Trusting a model file: the manifest beside it (`x.onnx` -> `x.manifest.json`, written by
//! `host export`) must exist, parse, describe the network this runtime feeds (1x48x48 grey
//! in, the paper's seven classes out, in order) and carry the file's SHA-256. Anything else
//! is refused before the model is parsed, so a truncated copy or a model swapped on the board
//! never runs.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use shared::wire::ModelManifest;
use shared::{Emotion, INPUT_SIZE};

use super::InferenceError;

/// The manifest path for a model path.
pub fn manifest_path(model: &Path) -> PathBuf {
    model.with_extension("manifest.json")
}

fn load_error(path: &Path, reason: impl Into<String>) -> InferenceError {
    InferenceError::Load {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Reads a model and its manifest and checks one against the other.
pub fn load_verified(model: &Path) -> Result<(Vec<u8>, ModelManifest), InferenceError> {
    let bytes = std::fs::read(model).map_err(|e| load_error(model, format!("cannot read model: {e}")))?;
    let mpath = manifest_path(model);
    let text = std::fs::read_to_string(&mpath)
        .map_err(|e| load_error(model, format!("cannot read its manifest {}: {e}", mpath.display())))?;
    let manifest: ModelManifest = serde_json::from_str(&text)
        .map_err(|e| load_error(model, format!("manifest {} is not valid: {e}", mpath.display())))?;
    verify(model, &bytes, &manifest)?;
    Ok((bytes, manifest))
}

/// Checks hash, input shape and labels.
pub fn verify(model: &Path, bytes: &[u8], manifest: &ModelManifest) -> Result<(), InferenceError> {
    let actual = hex::encode(Sha256::digest(bytes));
    if !actual.eq_ignore_ascii_case(&manifest.sha256) {
        return Err(load_error(
            model,
            format!("sha256 {actual} does not match the manifest's {}", manifest.sha256),
        ));
    }
    check(model, manifest)
}

/// Checks what the manifest says of the model's use: temperature, input shape, labels and
/// preprocessing (everything but the hash).
pub fn check(model: &Path, manifest: &ModelManifest) -> Result<(), InferenceError> {
    if !(manifest.temperature.is_finite() && manifest.temperature > 0.0) {
        return Err(load_error(
            model,
            format!("manifest temperature {} is not a positive number", manifest.temperature),
        ));
    }
    let expected_input = [1, INPUT_SIZE as u32, INPUT_SIZE as u32];
    if manifest.input_chw != expected_input {
        return Err(load_error(
            model,
            format!(
                "manifest input {:?}, this runtime feeds {expected_input:?}",
                manifest.input_chw
            ),
        ));
    }
    if let Err(e) = manifest.preprocessing.validate() {
        return Err(load_error(model, format!("manifest preprocessing.{e}")));
    }
    if manifest.labels != Emotion::ALL {
        return Err(load_error(
            model,
            format!(
                "manifest labels {:?} are not the paper's seven classes in order",
                manifest.labels
            ),
        ));
    }
    Ok(())
}

/// TEST ONLY: a manifest that passes the shape and label checks (the hash is empty), for
/// backend tests that feed bytes straight to `from_bytes`.
#[cfg(test)]
pub(crate) fn test_manifest() -> ModelManifest {
    ModelManifest {
        format_version: 1,
        name: "x".into(),
        labels: Emotion::ALL.to_vec(),
        input_chw: [1, INPUT_SIZE as u32, INPUT_SIZE as u32],
        preprocessing: Default::default(),
        quantization: shared::wire::Quantization::Float32,
        datasets: vec![],
        split: "paper".into(),
        seed: 0,
        metrics: vec![],
        sha256: String::new(),
        temperature: 1.0,
        recipe: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `tests/tests/fuzz.rs` (manifest target): a manifest whose preprocessing size
    /// was an extreme number made the first face a 34 GB allocation and aborted the edge.
    #[test]
    fn a_manifest_whose_preprocessing_cannot_feed_the_network_is_refused() {
        let mut manifest = test_manifest();
        assert!(check(Path::new("m.onnx"), &manifest).is_ok());
        manifest.preprocessing.size = 92_682;
        let err = check(Path::new("m.onnx"), &manifest).unwrap_err().to_string();
        assert!(err.contains("preprocessing.size"), "{err}");
        let mut manifest = test_manifest();
        manifest.preprocessing.normalization.scale = f32::NAN;
        let err = check(Path::new("m.onnx"), &manifest).unwrap_err().to_string();
        assert!(err.contains("normalization.scale"), "{err}");
    }
}
