//! Model manifests: the JSON file written beside every exported model, telling the edge (and
//! people) what the model expects and how it was made. The edge refuses a model whose SHA-256
//! or input shape does not match its manifest.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use shared::wire::ModelManifest;

use super::ExportError;

/// Lower-case hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The manifest path for a model path: `x.onnx` -> `x.manifest.json`.
pub fn manifest_path(model: &Path) -> PathBuf {
    model.with_extension("manifest.json")
}

/// Writes the model and then its manifest (with the model's hash filled in), each
/// atomically: a reader sees the old file or the new one, never a torn one. Between the two
/// renames the new model sits beside the old manifest, whose hash the edge then refuses.
pub fn write_model(model_path: &Path, bytes: &[u8], mut manifest: ModelManifest) -> Result<ModelManifest, ExportError> {
    manifest.sha256 = sha256_hex(bytes);
    let io = |p: &Path, e: std::io::Error| ExportError::Io(p.display().to_string(), e);
    crate::files::write_atomically(model_path, bytes).map_err(|e| io(model_path, e))?;
    let path = manifest_path(model_path);
    let json = serde_json::to_string_pretty(&manifest).map_err(|e| ExportError::Manifest(e.to_string()))?;
    crate::files::write_atomically(&path, (json + "\n").as_bytes()).map_err(|e| io(&path, e))?;
    Ok(manifest)
}
