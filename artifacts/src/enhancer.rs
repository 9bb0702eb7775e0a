//! The learned face enhancer's files and runtime: the exported ONNX graph with its manifest
//! (`x.onnx` + `x.manifest.json`, [`shared::wire::EnhancerManifest`]), checked and run in
//! tract. One module for the exporter (which writes the pair), the trainer (which prepares
//! faces through it) and the edge (which runs it before the classifier), so all three read
//! the same bytes the same way.
//!
//! A classifier trained behind an enhancer names it in its manifest
//! ([`shared::wire::EnhancerRef`]: file and SHA-256); [`Enhancer::load_for`] finds the file
//! beside the classifier and refuses it unless the hash matches both manifests, so a
//! classifier never runs behind an enhancer it was not trained with, nor without its own.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use shared::enhancer::{to_u8, to_unit};
use shared::preprocess::{Enhancement, PreprocessError, enhance};
use shared::wire::{EnhancerManifest, EnhancerRef};
use shared::{GrayImage, INPUT_SIZE};
use tract_onnx::prelude::*;

use crate::manifest::{ManifestError, check_hash, read_pair, refused, sha256_hex, write_pair};

/// An enhancer that cannot run on a face.
#[derive(Debug, thiserror::Error)]
pub enum EnhanceError {
    /// The face is not the enhancer's size.
    #[error("face is {width}x{height}, the enhancer takes {side}x{side}")]
    Size {
        /// Face width.
        width: u32,
        /// Face height.
        height: u32,
        /// The enhancer's side.
        side: u32,
    },
    /// tract failed while running the graph.
    #[error("enhancer: {0}")]
    Backend(String),
}

/// A face that could not be prepared for the classifier.
#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    /// Cropping, resizing or scaling failed.
    #[error(transparent)]
    Preprocess(#[from] PreprocessError),
    /// The learned enhancer failed.
    #[error(transparent)]
    Enhance(#[from] EnhanceError),
}

/// A verified enhancer, optimised for one `1x1xSxS` face at a time.
pub struct Enhancer {
    plan: Arc<TypedRunnableModel>,
    manifest: EnhancerManifest,
    path: PathBuf,
}

impl std::fmt::Debug for Enhancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enhancer")
            .field("path", &self.path)
            .field("manifest", &self.manifest)
            .finish_non_exhaustive()
    }
}

impl Enhancer {
    /// Loads an enhancer after checking it against its own manifest: hash, a valid spec and
    /// the network's input side.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let (bytes, manifest) = read_pair(path)?;
        Self::verified(path, &bytes, manifest)
    }

    /// Loads the enhancer a classifier's manifest names: the file beside `classifier`, whose
    /// hash must be the one the classifier recorded as well as its own manifest's.
    pub fn load_for(classifier: &Path, named: &EnhancerRef) -> Result<Self, ManifestError> {
        let file = Path::new(&named.file);
        if file.file_name() != Some(file.as_os_str()) {
            return Err(refused(
                classifier,
                format!(
                    "manifest names enhancer {:?}: expected a file name beside the model",
                    named.file
                ),
            ));
        }
        let path = classifier.parent().unwrap_or(Path::new("")).join(file);
        let (bytes, manifest) = read_pair(&path).map_err(|e| {
            refused(
                classifier,
                format!(
                    "it was trained behind the enhancer {}, which cannot be read: {e}",
                    path.display()
                ),
            )
        })?;
        check_hash(
            &path,
            &bytes,
            &named.sha256,
            &format!("the one {} was trained behind:", classifier.display()),
        )?;
        Self::verified(&path, &bytes, manifest)
    }

    /// Checks `bytes` against their own manifest (hash, spec, side) and optimises the graph.
    fn verified(path: &Path, bytes: &[u8], manifest: EnhancerManifest) -> Result<Self, ManifestError> {
        check_hash(path, bytes, &manifest.sha256, "the manifest's")?;
        if manifest.side as usize != INPUT_SIZE {
            return Err(refused(
                path,
                format!(
                    "enhancer side {}, this runtime crops {INPUT_SIZE}x{INPUT_SIZE} faces",
                    manifest.side
                ),
            ));
        }
        if let Err(e) = manifest.spec.validate() {
            return Err(refused(path, format!("enhancer manifest: {e}")));
        }
        let plan = crate::onnx::load_plan(bytes, [1, INPUT_SIZE, INPUT_SIZE]).map_err(|e| {
            refused(
                path,
                format!("not a usable enhancer graph for 1x1x{INPUT_SIZE}x{INPUT_SIZE}: {e:#}"),
            )
        })?;
        Ok(Enhancer {
            plan,
            manifest,
            path: path.to_path_buf(),
        })
    }

    /// The manifest the enhancer was loaded with.
    pub fn manifest(&self) -> &EnhancerManifest {
        &self.manifest
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What a classifier trained behind this enhancer sees of a cropped 48x48 face: the
    /// enhancer's restoration, then the recipe's classical enhancement (`then`). The one
    /// definition of that order, for the trainer's data and the edge.
    pub fn prepare(&self, cropped: &GrayImage, then: Enhancement) -> Result<GrayImage, EnhanceError> {
        Ok(enhance(&self.enhance(cropped)?, then))
    }

    /// The enhanced face: same size, pixels rounded back to 8 bits.
    pub fn enhance(&self, face: &GrayImage) -> Result<GrayImage, EnhanceError> {
        let side = INPUT_SIZE as u32;
        if face.width() != side || face.height() != side {
            return Err(EnhanceError::Size {
                width: face.width(),
                height: face.height(),
                side,
            });
        }
        let input: Vec<f32> = face.pixels().iter().map(|&p| to_unit(p)).collect();
        let tensor = Tensor::from_shape(&[1, 1, INPUT_SIZE, INPUT_SIZE], &input).map_err(backend)?;
        let outputs = self.plan.run(tvec!(tensor.into())).map_err(backend)?;
        let out = outputs[0]
            .try_as_plain_ram()
            .and_then(|v| v.as_slice::<f32>())
            .map_err(backend)?;
        if out.len() != input.len() {
            return Err(EnhanceError::Backend(format!(
                "{} output values for {} pixels",
                out.len(),
                input.len()
            )));
        }
        let pixels = out.iter().map(|&v| to_u8(v)).collect();
        GrayImage::from_raw(side, side, pixels).map_err(backend)
    }
}

fn backend(e: impl std::fmt::Display) -> EnhanceError {
    EnhanceError::Backend(format!("{e:#}"))
}

/// Whether `path` holds, with its manifest, the enhancer whose SHA-256 is `sha256` (read and
/// hashed only: nothing is loaded into tract).
pub fn holds(path: &Path, sha256: &str) -> bool {
    read_pair::<EnhancerManifest>(path)
        .is_ok_and(|(bytes, manifest)| manifest.sha256 == sha256 && sha256_hex(&bytes) == sha256)
}

/// Reads an enhancer and its manifest once and checks them as [`Enhancer::load`] does: the
/// bytes as read, for copying the pair elsewhere.
pub fn read_checked(path: &Path) -> Result<(Vec<u8>, EnhancerManifest), ManifestError> {
    let (bytes, manifest) = read_pair(path)?;
    let enhancer = Enhancer::verified(path, &bytes, manifest)?;
    Ok((bytes, enhancer.manifest))
}

/// Writes an enhancer and then its manifest (hash filled in), each atomically, and returns
/// the reference a classifier's manifest records.
pub fn write(path: &Path, bytes: &[u8], mut manifest: EnhancerManifest) -> Result<EnhancerRef, ManifestError> {
    manifest.sha256 = sha256_hex(bytes);
    write_pair(path, bytes, &manifest)?;
    Ok(reference(path, &manifest.sha256))
}

/// The reference to an enhancer file a classifier's manifest records.
pub fn reference(path: &Path, sha256: &str) -> EnhancerRef {
    EnhancerRef {
        file: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sha256: sha256.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use shared::wire::{EnhancerManifest, Quantization, WIRE_VERSION};

    use super::*;

    #[test]
    fn holds_only_the_same_bytes_with_their_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.onnx");
        let manifest = EnhancerManifest {
            format_version: WIRE_VERSION,
            name: "e".into(),
            spec: shared::enhancer::FfaSpec::default(),
            side: INPUT_SIZE as u32,
            quantization: Quantization::Float32,
            metrics: vec![],
            recipe: String::new(),
            sha256: String::new(),
        };
        assert!(!holds(&path, &sha256_hex(b"graph")), "nothing there");
        let named = write(&path, b"graph", manifest).unwrap();
        assert!(holds(&path, &named.sha256));
        assert!(!holds(&path, &sha256_hex(b"another graph")));
        std::fs::write(&path, b"graph, changed").unwrap();
        assert!(!holds(&path, &named.sha256), "bytes no longer match");
        std::fs::write(&path, b"graph").unwrap();
        std::fs::remove_file(crate::manifest::manifest_path(&path)).unwrap();
        assert!(!holds(&path, &named.sha256), "no manifest");
    }
}
