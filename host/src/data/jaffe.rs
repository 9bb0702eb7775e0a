//! JAFFE reader: `<poser>.<EMO><n>.<id>.tiff` files in one folder (sub-folders are searched
//! too), 256x256 whole-head images that still need face detection.
//!
//! The poser (first field, e.g. `KA`) is the subject: ten women posed every expression several
//! times, so a subject-independent split groups by poser.

use std::path::Path;

use shared::Emotion;

use super::{DataError, Entry, Listing, Origin, SkipReason, file_name, is_hidden, is_image_file, sorted_dir};

/// Parses `KA.AN1.39.tiff` into the poser and the label code (`KA`, `AN1`).
pub fn parse_name(name: &str) -> Option<(&str, &str)> {
    let mut fields = name.split('.');
    let poser = fields
        .next()
        .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphabetic()))?;
    let code = fields.next().filter(|c| c.len() >= 2)?;
    // At least an id or an extension must follow.
    fields.next()?;
    Some((poser, code))
}

/// Lists a JAFFE directory.
pub fn read(dir: &Path) -> Result<Listing, DataError> {
    let mut listing = Listing::default();
    let mut stack = vec![dir.to_path_buf()];
    let mut seen_images = 0usize;
    while let Some(current) = stack.pop() {
        for path in sorted_dir(&current)? {
            if is_hidden(&path) {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let display = path.display().to_string();
            if !is_image_file(&path) {
                // README files and the like sit beside JAFFE images in many mirrors.
                tracing::debug!(path = %path.display(), "ignored: not an image file");
                continue;
            }
            seen_images += 1;
            let name = file_name(&path);
            let Some((poser, code)) = parse_name(&name) else {
                listing.skip(display, SkipReason::BadName, "expected <poser>.<EMO><n>.<id>.tiff");
                continue;
            };
            let label = match Emotion::from_jaffe_code(code) {
                Ok(label) => label,
                Err(e) => {
                    listing.skip(display, SkipReason::UnknownLabel, e.to_string());
                    continue;
                }
            };
            let subject = poser.to_string();
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
    if seen_images == 0 {
        listing.skip(dir.display().to_string(), SkipReason::EmptyFolder, "no image files");
    }
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::test_util::write_png;

    #[test]
    fn names_give_poser_and_code() {
        assert_eq!(parse_name("KA.AN1.39.tiff"), Some(("KA", "AN1")));
        assert_eq!(parse_name("NM.SU3.60.tiff"), Some(("NM", "SU3")));
        assert_eq!(parse_name("KA.tiff"), None);
        assert_eq!(parse_name(".AN1.39.tiff"), None);
    }

    #[test]
    fn reads_posers_and_reports_bad_names_and_codes() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write_png(&d.join("KA.AN1.39.png"), 64, 64, 1);
        write_png(&d.join("sub/YM.HA2.10.png"), 64, 64, 2);
        write_png(&d.join("KA.XX1.40.png"), 64, 64, 3);
        write_png(&d.join("portrait.png"), 64, 64, 4);
        std::fs::write(d.join("README.txt"), "JAFFE").unwrap();
        let listing = read(d).unwrap();
        let got: Vec<_> = listing.entries.iter().map(|e| (e.subject.as_str(), e.label)).collect();
        assert_eq!(got.len(), 2);
        assert!(got.contains(&("KA", Emotion::Angry)) && got.contains(&("YM", Emotion::Happy)));
        let reasons: Vec<_> = listing
            .skipped
            .iter()
            .map(|s| {
                (
                    s.reason,
                    s.path.ends_with("KA.XX1.40.png") || s.path.ends_with("portrait.png"),
                )
            })
            .collect();
        assert_eq!(reasons.len(), 2);
        assert!(reasons.contains(&(SkipReason::UnknownLabel, true)) && reasons.contains(&(SkipReason::BadName, true)));
    }

    #[test]
    fn an_empty_folder_is_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let listing = read(tmp.path()).unwrap();
        assert!(listing.entries.is_empty());
        assert_eq!(listing.skipped[0].reason, SkipReason::EmptyFolder);
    }
}
