//! Haar cascade files: OpenCV's XML (what OpenCV ships, what the repository ships in
//! `models/`) or vigil's postcard form (`shared::haar::Cascade::to_postcard`), read the same
//! way by the host's face finder and the edge's detector, with the SHA-256 of the file so a
//! cache or a log can say exactly which cascade found the faces.

use std::path::{Path, PathBuf};

use shared::haar::{Cascade, HaarError};

/// A cascade file that cannot be used; names the file.
#[derive(Debug, thiserror::Error)]
pub enum CascadeFileError {
    /// The file could not be read.
    #[error("cannot read face cascade {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a cascade.
    #[error("face cascade {}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: HaarError,
    },
}

/// A cascade and the lower-case hex SHA-256 of the file it came from.
#[derive(Debug, Clone)]
pub struct CascadeFile {
    /// The parsed cascade.
    pub cascade: Cascade,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
}

/// Loads a cascade: OpenCV XML when the file ends in `.xml`, the postcard form otherwise.
pub fn load(path: &Path) -> Result<CascadeFile, CascadeFileError> {
    let bytes = std::fs::read(path).map_err(|source| CascadeFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let parse = |source| CascadeFileError::Parse {
        path: path.to_path_buf(),
        source,
    };
    let cascade = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xml")) {
        Cascade::from_opencv_xml(&String::from_utf8_lossy(&bytes)).map_err(parse)?
    } else {
        Cascade::from_postcard(&bytes).map_err(parse)?
    };
    Ok(CascadeFile {
        cascade,
        sha256: crate::manifest::sha256_hex(&bytes),
    })
}

/// The SHA-256 of a cascade file without parsing it.
pub fn file_sha256(path: &Path) -> Result<String, CascadeFileError> {
    std::fs::read(path)
        .map(|bytes| crate::manifest::sha256_hex(&bytes))
        .map_err(|source| CascadeFileError::Read {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_and_postcard_forms_load_to_the_same_cascade() {
        let xml = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/haarcascade_frontalface_default.xml");
        let from_xml = load(&xml).unwrap();
        assert_eq!(from_xml.sha256, file_sha256(&xml).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let pc = dir.path().join("cascade.pc");
        std::fs::write(&pc, from_xml.cascade.to_postcard().unwrap()).unwrap();
        assert_eq!(load(&pc).unwrap().cascade, from_xml.cascade);
        std::fs::write(&pc, b"garbage").unwrap();
        let err = load(&pc).unwrap_err().to_string();
        assert!(err.contains("cascade.pc"), "{err}");
        let err = load(&dir.path().join("missing.xml")).unwrap_err().to_string();
        assert!(err.contains("missing.xml"), "{err}");
    }
}
