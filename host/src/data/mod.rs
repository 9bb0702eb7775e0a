//! The trainer's data pipeline: read the four datasets, find and crop faces, clean, split,
//! balance, and cache the result.
//!
//! Why a separate, cached stage: decoding ~33,000 images and running CLAHE on each takes far
//! longer than one training epoch's data loading, and the split must be identical between
//! training, evaluation and the report. So `prepare` runs once, writes one small binary file
//! per dataset + protocol + split (with its full configuration in the header, so a stale cache
//! is refused rather than silently reused), and [`load_splits`] reads them back.
//!
//! Stages, one module each:
//! * readers ([`ckplus`], [`jaffe`], [`fer2013`], [`rafdb`]) list files and labels; bad input
//!   is reported with its path and skipped, never a panic;
//! * [`detect_layout()`] tells which dataset a directory holds;
//! * [`faces`] finds the face (Haar cascade for JAFFE, whole image for pre-cropped sets) and
//!   holds the enhancement seam;
//! * [`prepare()`] decodes, crops to 48x48 grey with `shared::preprocess`, and drops images
//!   without a face and exact duplicates;
//! * `shared::tiff_palette` decodes the palette TIFFs among JAFFE's images, which `image` refuses;
//! * [`split`] makes the paper's random 4:1 split or a subject-independent one;
//! * [`balance`] adds Gaussian-noise copies of minority classes to the training split only;
//! * [`cache`] reads and writes the prepared files and the Markdown summary.
//!
//! The pipeline's vocabulary lives in small private modules, re-exported here: `kinds`
//! (datasets, protocols, split parts), `sample` (a prepared face, the splits), `config`
//! (settings and defaults), `error`, and `listing` (what readers find, their shared
//! directory helpers).

pub mod balance;
pub mod cache;
pub mod ckplus;
pub mod detect_layout;
pub mod faces;
pub mod fer2013;
pub mod ferplus;
pub mod jaffe;
pub mod prepare;
pub mod rafdb;
pub mod split;

mod config;
mod error;
mod kinds;
mod listing;
mod sample;

pub use cache::{CACHE_FORMAT_VERSION, CACHE_MAGIC};
pub use config::{BalanceConfig, DataSelection, PrepareConfig};
pub use detect_layout::detect_layout;
pub use error::DataError;
pub use faces::{ClassicalEnhancer, FaceEnhancer};
pub use kinds::{DatasetKind, SplitName, SplitProtocol};
pub use listing::{Entry, Listing, OfficialSplit, Origin, SkipReason, Skipped, read_dataset};
pub(crate) use listing::{class_folder_files, class_folders, file_name, is_hidden, is_image_file, sorted_dir};
pub use prepare::{DatasetReport, PrepareReport, load_splits, load_splits_with, prepare, prepare_with};
pub use sample::{Sample, Splits};

#[cfg(test)]
pub(crate) mod test_util {
    //! Small image files for the readers' tests.
    use std::path::Path;

    /// Writes a `w x h` grey PNG with a gradient (so distinct files differ by `seed`).
    pub fn write_png(path: &Path, w: u32, h: u32, seed: u8) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let img = image::GrayImage::from_fn(w, h, |x, y| image::Luma([(x * 3 + y * 5) as u8 ^ seed]));
        img.save(path).unwrap();
    }

    /// Writes a PNG and cuts it to half its length: a truncated, undecodable file.
    pub fn write_truncated_png(path: &Path) {
        write_png(path, 48, 48, 1);
        let bytes = std::fs::read(path).unwrap();
        std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in DatasetKind::ALL {
            assert_eq!(k.name().parse::<DatasetKind>().unwrap(), k);
        }
        assert_eq!("CK+".parse::<DatasetKind>().unwrap(), DatasetKind::CkPlus);
        assert!("mnist".parse::<DatasetKind>().is_err());
        assert_eq!("subject".parse::<SplitProtocol>().unwrap(), SplitProtocol::Subject);
        assert_eq!(SplitProtocol::Paper.name(), "paper");
        assert!("kfold".parse::<SplitProtocol>().is_err());
    }

    #[test]
    fn config_validation_rejects_nonsense() {
        assert!(PrepareConfig::default().validate().is_ok());
        let bad = PrepareConfig {
            test_fraction: 1.5,
            ..PrepareConfig::default()
        };
        assert!(matches!(bad.validate(), Err(DataError::Config(_))));
        let none = PrepareConfig {
            data: DataSelection {
                datasets: vec![],
                ..DataSelection::default()
            },
            ..PrepareConfig::default()
        };
        assert!(none.validate().is_err());
        let balance = PrepareConfig {
            data: DataSelection {
                balance: BalanceConfig {
                    factor: f32::NAN,
                    noise_std: 1.0,
                },
                ..DataSelection::default()
            },
            ..PrepareConfig::default()
        };
        assert!(balance.validate().is_err());
    }

    #[test]
    fn dataset_dir_prefers_override_then_name_then_detection() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        test_util::write_png(&root.join("CK+48/anger/S005_001_00000011.png"), 48, 48, 0);
        let config = PrepareConfig {
            data: DataSelection {
                data_root: root.to_path_buf(),
                ..DataSelection::default()
            },
            ..PrepareConfig::default()
        };
        assert_eq!(config.dataset_dir(DatasetKind::CkPlus).unwrap(), root.join("CK+48"));
        assert!(matches!(
            config.dataset_dir(DatasetKind::Jaffe),
            Err(DataError::DatasetNotFound { .. })
        ));
        std::fs::create_dir(root.join("ckplus")).unwrap();
        assert_eq!(config.dataset_dir(DatasetKind::CkPlus).unwrap(), root.join("ckplus"));
        let mut explicit = config.clone();
        explicit
            .dataset_dirs
            .insert(DatasetKind::CkPlus, root.join("elsewhere"));
        assert_eq!(
            explicit.dataset_dir(DatasetKind::CkPlus).unwrap(),
            root.join("elsewhere")
        );
    }
}
