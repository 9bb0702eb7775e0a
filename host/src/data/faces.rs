//! Face finding and enhancement: the two per-image steps between decoding and the 48x48 crop.
//!
//! * [`FaceFinder`]: JAFFE is whole-head 256x256, so its face is found with the shared
//!   Viola-Jones detector (`shared::haar`, OpenCV's frontal-face cascade, the paper's step 1);
//!   CK+, FER2013 and RAF-DB aligned are already cropped, so the whole image is the box.
//! * [`FaceEnhancer`]: the paper enhances faces with FFA-Net (step 2). Until a learned
//!   enhancer exists the classical stand-in is the shared CLAHE / equalisation; the trait is
//!   the seam where a network can slot in later. Its [`FaceEnhancer::id`] goes into the cache
//!   header so a cache made with one enhancer is never read as another's.

use std::path::{Path, PathBuf};

use artifacts::enhancer::{EnhanceError, Enhancer, FaceError};
use shared::haar::{Cascade, DetectParams};
use shared::preprocess::{Enhancement, Preprocessing, enhance};
use shared::{FaceBox, GrayImage};

use super::{DataError, DatasetKind, PrepareConfig};

/// File name of the default cascade.
pub const CASCADE_FILE: &str = "haarcascade_frontalface_default.xml";

/// Finds the face box in a decoded grey frame.
pub trait FaceFinder: Send + Sync {
    /// Identifies the finder and its settings (recorded in the cache header).
    fn id(&self) -> String;
    /// The face box, or `None` when there is no face.
    fn find(&self, frame: &GrayImage) -> Option<FaceBox>;
}

/// For datasets already cropped to the face: the whole image is the box.
#[derive(Debug, Clone, Copy, Default)]
pub struct WholeImage;

impl FaceFinder for WholeImage {
    fn id(&self) -> String {
        "whole-image".into()
    }

    fn find(&self, frame: &GrayImage) -> Option<FaceBox> {
        Some(FaceBox::whole(frame.width(), frame.height()))
    }
}

/// OpenCV Haar cascade through `shared::haar`, keeping the largest detection.
pub struct HaarFinder {
    cascade: Cascade,
    params: DetectParams,
    id: String,
}

impl HaarFinder {
    /// Loads an OpenCV cascade XML file, detecting with `DetectParams::default()` (scale 1.1,
    /// minNeighbors 5, min size 30, as OpenCV's tools are usually run).
    pub fn load(path: &Path) -> Result<Self, DataError> {
        let file = artifacts::cascade::load(path).map_err(|e| DataError::Detector(e.to_string()))?;
        Ok(HaarFinder {
            cascade: file.cascade,
            params: DetectParams::default(),
            id: cascade_id(&file.sha256),
        })
    }
}

impl FaceFinder for HaarFinder {
    fn id(&self) -> String {
        self.id.clone()
    }

    fn find(&self, frame: &GrayImage) -> Option<FaceBox> {
        shared::haar::largest(&self.cascade.detect(frame, &self.params))
    }
}

/// The identity of a cascade: its content hash and the detection settings.
/// The finder's id from its cascade file's SHA-256 (hex): the first 8 bytes name it.
fn cascade_id(sha256: &str) -> String {
    format!("haar:{}:default-params", &sha256[..16])
}

/// Where to look for the cascade when none is configured.
pub fn cascade_candidates(config: &PrepareConfig) -> Vec<PathBuf> {
    if let Some(path) = &config.cascade {
        return vec![path.clone()];
    }
    vec![
        PathBuf::from("models").join(CASCADE_FILE),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../models")
            .join(CASCADE_FILE),
        config.data.data_root.join("haarcascades").join(CASCADE_FILE),
    ]
}

/// The configured (or first existing default) cascade file.
pub fn cascade_path(config: &PrepareConfig) -> Result<PathBuf, DataError> {
    let candidates = cascade_candidates(config);
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        let list: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        DataError::Detector(format!("no Haar cascade found (looked at {})", list.join(", ")))
    })
}

/// The face finder a dataset needs.
pub fn finder_for(kind: DatasetKind, config: &PrepareConfig) -> Result<Box<dyn FaceFinder>, DataError> {
    if kind.pre_cropped() {
        Ok(Box::new(WholeImage))
    } else {
        Ok(Box::new(HaarFinder::load(&cascade_path(config)?)?))
    }
}

/// The id [`finder_for`] would report, without loading the cascade.
pub fn finder_id(kind: DatasetKind, config: &PrepareConfig) -> Result<String, DataError> {
    if kind.pre_cropped() {
        return Ok(WholeImage.id());
    }
    let path = cascade_path(config)?;
    let sha256 = artifacts::cascade::file_sha256(&path).map_err(|e| DataError::Detector(e.to_string()))?;
    Ok(cascade_id(&sha256))
}

/// Enhances a 48x48 grey face (the paper's FFA-Net step).
pub trait FaceEnhancer: Send + Sync {
    /// Identifies the enhancer and its settings (recorded in the cache header).
    fn id(&self) -> String;
    /// The enhanced face, same size.
    fn enhance(&self, face: &GrayImage) -> Result<GrayImage, EnhanceError>;
    /// SHA-256 of the learned enhancer's file, if there is one.
    fn learned_sha256(&self) -> Option<&str> {
        None
    }
}

/// The classical stand-in: the shared histogram equalisation / CLAHE, exactly as the edge
/// applies it at inference time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassicalEnhancer(pub Enhancement);

impl FaceEnhancer for ClassicalEnhancer {
    fn id(&self) -> String {
        match self.0 {
            Enhancement::None => "none".into(),
            Enhancement::Equalize => "equalize".into(),
            Enhancement::Clahe { clip_limit, tiles } => {
                format!("clahe(clip={clip_limit},tiles={tiles})")
            }
        }
    }

    fn enhance(&self, face: &GrayImage) -> Result<GrayImage, EnhanceError> {
        Ok(enhance(face, self.0))
    }
}

/// The learned enhancer (`host export --enhancer`) followed by the recipe's classical
/// enhancement, in the order the edge runs them for a model whose manifest names the enhancer
/// ([`Enhancer::prepare`]).
pub struct LearnedEnhancer {
    enhancer: Enhancer,
    then: Enhancement,
}

impl LearnedEnhancer {
    /// Loads and verifies the enhancer at `path` (its manifest beside it).
    pub fn load(path: &Path, then: Enhancement) -> Result<Self, DataError> {
        let enhancer = Enhancer::load(path).map_err(|e| DataError::Config(format!("face enhancer: {e}")))?;
        Ok(Self::new(enhancer, then))
    }

    /// An already loaded enhancer, followed by `then`.
    pub fn new(enhancer: Enhancer, then: Enhancement) -> Self {
        LearnedEnhancer { enhancer, then }
    }
}

impl FaceEnhancer for LearnedEnhancer {
    fn id(&self) -> String {
        format!(
            "ffa(sha256={})+{}",
            self.enhancer.manifest().sha256,
            ClassicalEnhancer(self.then).id()
        )
    }

    fn enhance(&self, face: &GrayImage) -> Result<GrayImage, EnhanceError> {
        self.enhancer.prepare(face, self.then)
    }

    fn learned_sha256(&self) -> Option<&str> {
        Some(&self.enhancer.manifest().sha256)
    }
}

/// The enhancer `config` asks for: its learned enhancer followed by the recipe's classical
/// enhancement when it names one, else the classical enhancement alone.
pub fn enhancer_for(config: &PrepareConfig) -> Result<Box<dyn FaceEnhancer>, DataError> {
    let classical = config.data.preprocessing.enhancement;
    Ok(match &config.data.enhancer {
        None => Box::new(ClassicalEnhancer(classical)),
        Some(path) => Box::new(LearnedEnhancer::load(path, classical)?),
    })
}

/// Crop + resize with the shared preprocessing, then the enhancer. With
/// `ClassicalEnhancer(p.enhancement)` this is exactly `p.face(frame, face)`.
pub fn preprocess(
    frame: &GrayImage,
    face: FaceBox,
    preprocessing: &Preprocessing,
    enhancer: &dyn FaceEnhancer,
) -> Result<GrayImage, FaceError> {
    Ok(enhancer.enhance(&preprocessing.cropped(frame, face)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> GrayImage {
        GrayImage::from_raw(100, 80, (0..8000u32).map(|i| ((i * 7) % 251) as u8).collect()).unwrap()
    }

    #[test]
    fn classical_enhancer_matches_shared_preprocessing() {
        for enhancement in [Enhancement::None, Enhancement::Equalize, Enhancement::default()] {
            let p = Preprocessing {
                enhancement,
                ..Preprocessing::default()
            };
            let face = FaceBox::new(10, 5, 60, 60);
            let ours = preprocess(&frame(), face, &p, &ClassicalEnhancer(enhancement)).unwrap();
            assert_eq!(ours, p.face(&frame(), face).unwrap(), "{enhancement:?}");
            assert_eq!((ours.width(), ours.height()), (48, 48));
        }
        assert_eq!(ClassicalEnhancer(Enhancement::None).id(), "none");
        assert_ne!(
            ClassicalEnhancer(Enhancement::default()).id(),
            ClassicalEnhancer(Enhancement::Equalize).id()
        );
    }

    #[test]
    fn whole_image_box_covers_the_frame() {
        assert_eq!(WholeImage.find(&frame()), Some(FaceBox::new(0, 0, 100, 80)));
    }

    #[test]
    fn a_missing_or_broken_cascade_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let config = PrepareConfig {
            cascade: Some(tmp.path().join("none.xml")),
            ..PrepareConfig::default()
        };
        assert!(matches!(
            finder_for(DatasetKind::Jaffe, &config),
            Err(DataError::Detector(_))
        ));
        assert!(finder_for(DatasetKind::CkPlus, &config).is_ok());
        let broken = tmp.path().join("broken.xml");
        std::fs::write(&broken, "<opencv_storage><cascade>").unwrap();
        assert!(HaarFinder::load(&broken).is_err());
    }
}
