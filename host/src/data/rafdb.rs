//! RAF-DB (basic) reader: `EmoLabel/list_patition_label.txt` (sic) with lines such as
//! `train_00001.jpg 5`, and the aligned 100x100 colour faces in `Image/aligned/`.
//!
//! The official distribution names the aligned files `train_00001_aligned.jpg` while the list
//! names `train_00001.jpg`; both spellings are accepted. The `train_` / `test_` prefix gives
//! the official split. RAF-DB has no subject ids: the file name stands in.

use std::path::{Path, PathBuf};

use shared::Emotion;

use super::{DataError, Entry, Listing, OfficialSplit, Origin, SkipReason};

/// The label list, relative to the dataset root.
pub const LABEL_LIST: &str = "EmoLabel/list_patition_label.txt";
/// The aligned-image folder, relative to the dataset root.
pub const ALIGNED_DIR: &str = "Image/aligned";

/// The RAF-DB root: `dir` itself or its `basic/` sub-folder, whichever holds the label list.
pub fn root(dir: &Path) -> Option<PathBuf> {
    [dir.to_path_buf(), dir.join("basic")]
        .into_iter()
        .find(|d| d.join(LABEL_LIST).is_file())
}

/// The image file for a listed name: `<stem>_aligned.<ext>` or the name itself.
fn image_path(aligned: &Path, name: &str) -> Option<PathBuf> {
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, "jpg"));
    [aligned.join(format!("{stem}_aligned.{ext}")), aligned.join(name)]
        .into_iter()
        .find(|p| p.is_file())
}

/// Lists a RAF-DB basic directory.
pub fn read(dir: &Path) -> Result<Listing, DataError> {
    let root = root(dir).ok_or_else(|| DataError::UnknownLayout {
        path: dir.to_path_buf(),
        why: format!("no {LABEL_LIST}"),
    })?;
    let list = root.join(LABEL_LIST);
    let aligned = root.join(ALIGNED_DIR);
    let text = std::fs::read_to_string(&list).map_err(|e| DataError::io(&list, e))?;
    let mut listing = Listing::default();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let display = format!("{}#line{}", list.display(), index + 1);
        let mut fields = line.split_ascii_whitespace();
        let (Some(name), Some(value), None) = (fields.next(), fields.next(), fields.next()) else {
            listing.skip(
                display,
                SkipReason::WrongSize,
                format!("expected `<file> <label>`, got {line:?}"),
            );
            continue;
        };
        let label = match value
            .parse::<i64>()
            .map_err(|_| value.to_string())
            .and_then(|v| Emotion::from_rafdb_index(v).map_err(|e| e.to_string()))
        {
            Ok(label) => label,
            Err(e) => {
                listing.skip(display, SkipReason::UnknownLabel, format!("{name}: label {e}"));
                continue;
            }
        };
        let split = if name.starts_with("train_") {
            OfficialSplit::Train
        } else if name.starts_with("test_") {
            OfficialSplit::Test
        } else {
            listing.skip(
                display,
                SkipReason::BadName,
                format!("{name}: expected a train_ or test_ prefix"),
            );
            continue;
        };
        let Some(path) = image_path(&aligned, name) else {
            listing.skip(
                aligned.join(name).display().to_string(),
                SkipReason::MissingFile,
                "listed in the label file but not in Image/aligned",
            );
            continue;
        };
        let display = path.display().to_string();
        listing.entries.push(Entry {
            origin: Origin::File(path),
            display,
            label,
            subject: name.to_string(),
            source: name.to_string(),
            official: Some(split),
            votes: None,
        });
    }
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::test_util::write_png;

    #[test]
    fn reads_the_list_with_both_file_spellings() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("basic");
        std::fs::create_dir_all(d.join("EmoLabel")).unwrap();
        write_png(&d.join("Image/aligned/train_00001_aligned.png"), 100, 100, 1);
        write_png(&d.join("Image/aligned/test_0001.png"), 100, 100, 2);
        write_png(&d.join("Image/aligned/other_1.png"), 100, 100, 3);
        std::fs::write(
            d.join(LABEL_LIST),
            "train_00001.png 5\ntest_0001.png 1\ntrain_00002.png 4\ntrain_00003.png 9\nother_1.png 2\nbroken\n",
        )
        .unwrap();
        let listing = read(tmp.path()).unwrap();
        assert_eq!(
            listing.summary(),
            [
                ("train_00001.png", Emotion::Sad, Some(OfficialSplit::Train)),
                ("test_0001.png", Emotion::Surprised, Some(OfficialSplit::Test)),
            ]
        );
        let reasons: Vec<_> = listing.skipped.iter().map(|s| s.reason).collect();
        assert_eq!(
            reasons,
            [
                SkipReason::MissingFile,
                SkipReason::UnknownLabel,
                SkipReason::BadName,
                SkipReason::WrongSize
            ]
        );
        assert!(listing.skipped[0].path.ends_with("train_00002.png"));
    }

    #[test]
    fn a_directory_without_the_list_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(read(tmp.path()), Err(DataError::UnknownLayout { .. })));
    }
}
