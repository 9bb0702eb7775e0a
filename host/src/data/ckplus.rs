//! CK+ reader: one folder per label (`anger/`, `contempt/`, ...), files
//! `S<subject>_<sequence>_<frame>.png`, already cropped to 48x48.
//!
//! The subject (`S010`) is kept because CK+ has many near-identical frames per sequence and
//! several sequences per person: a subject-independent split must group by it.

use std::path::Path;

use shared::Emotion;
use shared::labels::ContemptPolicy;

use super::{DataError, Entry, Listing, Origin, SkipReason, class_folder_files, class_folders};

/// The subject id (`S010`) at the start of a CK+ file name, if the name has one.
pub fn subject_of(file_name: &str) -> Option<&str> {
    let subject = file_name.split('_').next()?;
    let digits = subject.strip_prefix('S').or_else(|| subject.strip_prefix('s'))?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && file_name.len() > subject.len())
        .then_some(subject)
}

/// Lists a CK+ directory.
pub fn read(dir: &Path, contempt: ContemptPolicy) -> Result<Listing, DataError> {
    let mut listing = Listing::default();
    for (class_dir, folder) in class_folders(dir, &mut listing)? {
        let label = Emotion::from_ckplus(&folder, contempt);
        let files = class_folder_files(&class_dir, &mut listing)?;
        for (path, name) in files {
            let display = path.display().to_string();
            let label = match &label {
                Ok(Some(label)) => *label,
                Ok(None) => {
                    listing.skip(display, SkipReason::DroppedLabel, format!("label {folder:?}"));
                    continue;
                }
                Err(e) => {
                    listing.skip(display, SkipReason::UnknownLabel, e.to_string());
                    continue;
                }
            };
            let Some(subject) = subject_of(&name) else {
                listing.skip(display, SkipReason::BadName, "expected S<subject>_<sequence>_<frame>");
                continue;
            };
            let subject = subject.to_string();
            listing.entries.push(Entry {
                origin: Origin::File(path),
                display,
                label,
                subject,
                source: name,
                official: None,
                votes: None,
            });
        }
    }
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::test_util::write_png;

    #[test]
    fn subjects_come_from_the_file_name() {
        assert_eq!(subject_of("S010_004_00000017.png"), Some("S010"));
        assert_eq!(subject_of("S5_1_1.png"), Some("S5"));
        assert_eq!(subject_of("face.png"), None);
        assert_eq!(subject_of("S_1.png"), None);
        assert_eq!(subject_of("S010"), None);
    }

    #[test]
    fn reads_labels_subjects_and_reports_bad_input() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write_png(&d.join("anger/S010_001_00000001.png"), 48, 48, 1);
        write_png(&d.join("anger/S011_001_00000001.png"), 48, 48, 2);
        write_png(&d.join("contempt/S012_001_00000001.png"), 48, 48, 3);
        write_png(&d.join("joy/S013_001_00000001.png"), 48, 48, 4);
        write_png(&d.join("sadness/unnamed.png"), 48, 48, 5);
        std::fs::create_dir_all(d.join("fear")).unwrap();
        std::fs::write(d.join("anger/notes.txt"), "x").unwrap();

        let listing = read(d, ContemptPolicy::Drop).unwrap();
        let got: Vec<_> = listing.entries.iter().map(|e| (e.label, e.subject.as_str())).collect();
        assert_eq!(got, [(Emotion::Angry, "S010"), (Emotion::Angry, "S011")]);
        let reasons: Vec<_> = listing.skipped.iter().map(|s| s.reason).collect();
        for r in [
            SkipReason::DroppedLabel,
            SkipReason::UnknownLabel,
            SkipReason::BadName,
            SkipReason::EmptyFolder,
            SkipReason::Unreadable,
        ] {
            assert!(reasons.contains(&r), "{r:?} missing from {reasons:?}");
        }
        assert!(
            listing
                .skipped
                .iter()
                .any(|s| s.reason == SkipReason::UnknownLabel && s.path.contains("joy"))
        );

        let folded = read(d, ContemptPolicy::FoldIntoDisgust).unwrap();
        assert!(
            folded
                .entries
                .iter()
                .any(|e| e.label == Emotion::Bored && e.subject == "S012")
        );
    }
}
