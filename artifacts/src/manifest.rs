//! Model manifests: the JSON file beside every exported model (`x.onnx` ->
//! `x.manifest.json`), telling the edge (and people) what the model expects and how it was
//! made. `host export` writes the pair ([`write_model`]); the edge trusts a model only
//! through [`load_verified`]: the manifest must exist, parse, describe the network the
//! runtime feeds (1x48x48 grey in, the paper's seven classes out, in order, a preprocessing
//! that can feed it) and carry the file's SHA-256. Anything else is refused before the model
//! is parsed, so a truncated copy or a model swapped on the board never runs.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use shared::wire::ModelManifest;
use shared::{Emotion, INPUT_SIZE};

/// A model and manifest pair that cannot be written, read or trusted; names the model.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The manifest is unusable for this model.
    #[error("model {}: {reason}", model.display())]
    Refused {
        /// The model file.
        model: PathBuf,
        /// Why.
        reason: String,
    },
}

pub(crate) fn refused(model: &Path, reason: impl Into<String>) -> ManifestError {
    ManifestError::Refused {
        model: model.to_path_buf(),
        reason: reason.into(),
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ManifestError + '_ {
    move |source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The manifest path for a model path: `x.onnx` -> `x.manifest.json`.
pub fn manifest_path(model: &Path) -> PathBuf {
    model.with_extension("manifest.json")
}

/// Lower-case hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes the model and then its manifest (with the model's hash filled in), each
/// atomically: a reader sees the old file or the new one, never a torn one. Between the two
/// renames the new model sits beside the old manifest, whose hash the edge then refuses.
pub fn write_model(model: &Path, bytes: &[u8], mut manifest: ModelManifest) -> Result<ModelManifest, ManifestError> {
    manifest.sha256 = sha256_hex(bytes);
    write_pair(model, bytes, &manifest)?;
    Ok(manifest)
}

/// Writes a model file and then its JSON manifest, each atomically (see [`write_model`]).
pub(crate) fn write_pair(model: &Path, bytes: &[u8], manifest: &impl Serialize) -> Result<(), ManifestError> {
    crate::files::write_atomically(model, bytes).map_err(io(model))?;
    let path = manifest_path(model);
    let json = serde_json::to_string_pretty(manifest).map_err(|e| refused(model, e.to_string()))?;
    crate::files::write_atomically(&path, (json + "\n").as_bytes()).map_err(io(&path))
}

/// Reads a model file and its JSON manifest, unchecked.
pub(crate) fn read_pair<M: DeserializeOwned>(model: &Path) -> Result<(Vec<u8>, M), ManifestError> {
    let bytes = std::fs::read(model).map_err(io(model))?;
    let path = manifest_path(model);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| refused(model, format!("cannot read its manifest {}: {e}", path.display())))?;
    let manifest = serde_json::from_str(&text)
        .map_err(|e| refused(model, format!("manifest {} is not valid: {e}", path.display())))?;
    Ok((bytes, manifest))
}

/// Refuses bytes whose SHA-256 is not `expected`.
pub(crate) fn check_hash(model: &Path, bytes: &[u8], expected: &str, whose: &str) -> Result<(), ManifestError> {
    let actual = sha256_hex(bytes);
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(refused(
            model,
            format!("sha256 {actual} does not match {whose} {expected}"),
        ))
    }
}

/// Reads a model and its manifest and checks one against the other.
pub fn load_verified(model: &Path) -> Result<(Vec<u8>, ModelManifest), ManifestError> {
    let (bytes, manifest) = read_pair(model)?;
    verify(model, &bytes, &manifest)?;
    Ok((bytes, manifest))
}

/// Checks the hash, then everything [`check`] checks.
pub fn verify(model: &Path, bytes: &[u8], manifest: &ModelManifest) -> Result<(), ManifestError> {
    check_hash(model, bytes, &manifest.sha256, "the manifest's")?;
    check(model, manifest)
}

/// Checks what the manifest says of the model's use: temperature, input shape, labels and
/// preprocessing (everything but the hash).
pub fn check(model: &Path, manifest: &ModelManifest) -> Result<(), ManifestError> {
    if !(manifest.temperature.is_finite() && manifest.temperature > 0.0) {
        return Err(refused(
            model,
            format!("manifest temperature {} is not a positive number", manifest.temperature),
        ));
    }
    let expected_input = [1, INPUT_SIZE as u32, INPUT_SIZE as u32];
    if manifest.input_chw != expected_input {
        return Err(refused(
            model,
            format!(
                "manifest input {:?}, this runtime feeds {expected_input:?}",
                manifest.input_chw
            ),
        ));
    }
    if let Err(e) = manifest.preprocessing.validate() {
        return Err(refused(model, format!("manifest preprocessing.{e}")));
    }
    if manifest.labels != Emotion::ALL {
        return Err(refused(
            model,
            format!(
                "manifest labels {:?} are not the paper's seven classes in order",
                manifest.labels
            ),
        ));
    }
    Ok(())
}

/// A manifest that passes [`check`] (its hash is empty), for tests of code that takes
/// manifests (inference backends fed bytes directly, the serial line's announcement).
pub fn for_tests() -> ModelManifest {
    ModelManifest {
        format_version: 1,
        name: "x".into(),
        labels: Emotion::ALL.to_vec(),
        input_chw: [1, INPUT_SIZE as u32, INPUT_SIZE as u32],
        preprocessing: Default::default(),
        quantization: shared::wire::Quantization::Float32,
        datasets: vec![],
        split: shared::dataset::SplitProtocol::Paper,
        seed: 0,
        metrics: vec![],
        sha256: String::new(),
        temperature: 1.0,
        recipe: String::new(),
        enhancer: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `tests/tests/fuzz.rs` (manifest target): a manifest whose preprocessing size
    /// was an extreme number made the first face a 34 GB allocation and aborted the edge.
    #[test]
    fn a_manifest_whose_preprocessing_cannot_feed_the_network_is_refused() {
        let mut manifest = for_tests();
        assert!(check(Path::new("m.onnx"), &manifest).is_ok());
        manifest.preprocessing.size = 92_682;
        let err = check(Path::new("m.onnx"), &manifest).unwrap_err().to_string();
        assert!(err.contains("preprocessing.size"), "{err}");
        let mut manifest = for_tests();
        manifest.preprocessing.normalization.scale = f32::NAN;
        let err = check(Path::new("m.onnx"), &manifest).unwrap_err().to_string();
        assert!(err.contains("normalization.scale"), "{err}");
    }
}
