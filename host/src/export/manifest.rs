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

/// Writes the model and its manifest (with the model's hash filled in).
pub fn write_model(model_path: &Path, bytes: &[u8], mut manifest: ModelManifest) -> Result<ModelManifest, ExportError> {
    manifest.sha256 = sha256_hex(bytes);
    let io = |e: std::io::Error, p: &Path| ExportError::Io(p.display().to_string(), e);
    std::fs::write(model_path, bytes).map_err(|e| io(e, model_path))?;
    let path = manifest_path(model_path);
    let json = serde_json::to_string_pretty(&manifest).map_err(|e| ExportError::Manifest(e.to_string()))?;
    std::fs::write(&path, json + "\n").map_err(|e| io(e, &path))?;
    Ok(manifest)
}
