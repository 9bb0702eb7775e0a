//! Tells which dataset a directory holds, from its layout alone (no image is decoded).
//!
//! Mirrors of these datasets use many folder names (`CK+48`, `JAFFE_bakcup`, `fer2013`,
//! `basic`), so the pipeline finds a dataset by what is inside a directory rather than by its
//! name; an explicit directory per dataset (`PrepareConfig::dataset_dirs`) overrides this.

use std::path::Path;

use shared::Emotion;
use shared::labels::ContemptPolicy;

use super::{DataError, DatasetKind, ckplus, fer2013, ferplus, file_name, is_image_file, jaffe, rafdb, sorted_dir};

/// The dataset whose layout `dir` has. Checked in order: RAF-DB (label list), FER2013 (split
/// folders or `fer2013.csv`), JAFFE (`<poser>.<EMO><n>.<id>` image files), CK+ (label folders
/// of `S<subject>_...` images).
pub fn detect_layout(dir: &Path) -> Result<DatasetKind, DataError> {
    if !dir.is_dir() {
        if fer2013::csv_path(dir).is_some() {
            return Ok(DatasetKind::Fer2013);
        }
        return Err(DataError::UnknownLayout {
            path: dir.to_path_buf(),
            why: "not a directory".into(),
        });
    }
    if rafdb::root(dir).is_some() {
        return Ok(DatasetKind::RafDb);
    }
    if ferplus::is_ferplus(dir) {
        return Ok(DatasetKind::FerPlus);
    }
    if fer2013::csv_path(dir).is_some() || fer2013_folders(dir)? {
        return Ok(DatasetKind::Fer2013);
    }
    let children = sorted_dir(dir)?;
    let is_jaffe_name = |p: &Path| {
        is_image_file(p)
            && jaffe::parse_name(&file_name(p)).is_some_and(|(_, code)| Emotion::from_jaffe_code(code).is_ok())
    };
    if children.iter().any(|p| p.is_file() && is_jaffe_name(p)) {
        return Ok(DatasetKind::Jaffe);
    }
    for child in children.iter().filter(|c| c.is_dir()) {
        if Emotion::from_ckplus(&file_name(child), ContemptPolicy::Drop).is_err() {
            continue;
        }
        let files = sorted_dir(child)?;
        if files
            .iter()
            .any(|f| is_image_file(f) && ckplus::subject_of(&file_name(f)).is_some())
        {
            return Ok(DatasetKind::CkPlus);
        }
    }
    Err(DataError::UnknownLayout {
        path: dir.to_path_buf(),
        why: "no known dataset layout (CK+ label folders, JAFFE .tiff names, FER2013 train/ + val/ or fer2013.csv, \
              RAF-DB EmoLabel/list_patition_label.txt)"
            .into(),
    })
}

/// True when `dir` has a FER2013 split folder holding at least one FER2013 class folder.
fn fer2013_folders(dir: &Path) -> Result<bool, DataError> {
    for (_, split) in fer2013::split_dirs(dir) {
        if sorted_dir(&split)?
            .iter()
            .any(|c| c.is_dir() && Emotion::from_fer2013_folder(&file_name(c)).is_ok())
        {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::test_util::write_png;

    #[test]
    fn each_layout_is_recognised() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write_png(&d.join("ck/anger/S005_001_00000011.png"), 48, 48, 0);
        write_png(&d.join("jaffe/KA.AN1.39.png"), 64, 64, 0);
        write_png(&d.join("fer/train/angry/Training_1.png"), 48, 48, 0);
        std::fs::create_dir_all(d.join("fercsv")).unwrap();
        std::fs::write(d.join("fercsv/fer2013.csv"), "emotion,pixels,Usage\n").unwrap();
        std::fs::create_dir_all(d.join("raf/basic/EmoLabel")).unwrap();
        std::fs::write(
            d.join("raf/basic/EmoLabel/list_patition_label.txt"),
            "train_00001.jpg 1\n",
        )
        .unwrap();
        write_png(&d.join("other/pictures/cat.png"), 8, 8, 0);

        assert_eq!(detect_layout(&d.join("ck")).unwrap(), DatasetKind::CkPlus);
        assert_eq!(detect_layout(&d.join("jaffe")).unwrap(), DatasetKind::Jaffe);
        assert_eq!(detect_layout(&d.join("fer")).unwrap(), DatasetKind::Fer2013);
        assert_eq!(detect_layout(&d.join("fercsv")).unwrap(), DatasetKind::Fer2013);
        assert_eq!(
            detect_layout(&d.join("fercsv/fer2013.csv")).unwrap(),
            DatasetKind::Fer2013
        );
        assert_eq!(detect_layout(&d.join("raf")).unwrap(), DatasetKind::RafDb);
        assert!(matches!(
            detect_layout(&d.join("other")),
            Err(DataError::UnknownLayout { .. })
        ));
        assert!(matches!(
            detect_layout(&d.join("missing")),
            Err(DataError::UnknownLayout { .. })
        ));
    }
}
