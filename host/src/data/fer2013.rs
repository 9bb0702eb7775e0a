//! FER2013 reader, for both layouts in circulation:
//!
//! * class folders of 48x48 JPEGs: `train/<class>/*.jpg` (the official *Training* images) and
//!   `val/<class>/*.jpg` (*PublicTest*; `validation/` and `test/` are accepted too);
//! * the original `fer2013.csv` with columns `emotion,pixels,Usage`, where `pixels` is 2304
//!   space-separated values and `Usage` is `Training`, `PublicTest` or `PrivateTest`.
//!
//! PublicTest is the test split of the subject protocol. PrivateTest is kept out on purpose
//! (the project holds the third official split back as a final check), so its rows are
//! counted as held out. A test folder with more faces than PublicTest has (the common export
//! whose `test/` holds both) is read as it is, with a warning that it is not PublicTest. FER2013 has no subject ids: the file name (or CSV row) stands in.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use shared::Emotion;

use super::{
    DataError, Entry, Listing, OfficialSplit, Origin, SkipReason, class_folder_files, class_folders, file_name,
    sorted_dir,
};

/// Side of a FER2013 image.
pub const SIDE: u32 = 48;

/// Folder names of the two official splits in the folder layout.
const TRAIN_DIRS: [&str; 2] = ["train", "training"];
const TEST_DIRS: [&str; 4] = ["val", "validation", "publictest", "test"];

/// The CSV file of a FER2013 directory (or the path itself if it is a `.csv` file).
pub fn csv_path(dir: &Path) -> Option<PathBuf> {
    if dir.is_file() && dir.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        return Some(dir.to_path_buf());
    }
    let csv = dir.join("fer2013.csv");
    csv.is_file().then_some(csv)
}

/// The split folders present in `dir` (train first), by case-insensitive name.
pub fn split_dirs(dir: &Path) -> Vec<(OfficialSplit, PathBuf)> {
    let Ok(children) = sorted_dir(dir) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (split, names) in [
        (OfficialSplit::Train, &TRAIN_DIRS[..]),
        (OfficialSplit::Test, &TEST_DIRS[..]),
    ] {
        // The first matching name wins, so `val/` is used over a `test/` beside it.
        let hit = names.iter().find_map(|n| {
            children
                .iter()
                .find(|c| c.is_dir() && file_name(c).eq_ignore_ascii_case(n))
        });
        if let Some(path) = hit {
            found.push((split, path.clone()));
        }
    }
    found
}

/// Lists a FER2013 directory: the class folders if there are any, else `fer2013.csv`.
pub fn read(dir: &Path) -> Result<Listing, DataError> {
    let splits = split_dirs(dir);
    if !splits.is_empty() {
        return read_folders(&splits);
    }
    match csv_path(dir) {
        Some(csv) => read_csv(&csv),
        None => Err(DataError::UnknownLayout {
            path: dir.to_path_buf(),
            why: "expected FER2013 train/ and val/ class folders or fer2013.csv".into(),
        }),
    }
}

/// Faces in FER2013's PublicTest.
pub const PUBLIC_TEST_FACES: usize = 3_589;

/// The warning for a test folder with more faces than PublicTest has: the common class-folder
/// export's `test/` holds PublicTest and PrivateTest together (7,178 faces), and figures on it
/// are then not PublicTest figures.
pub fn test_folder_warning(folder: &Path, faces: usize) -> Option<String> {
    (faces > PUBLIC_TEST_FACES).then(|| {
        format!(
            "{}: {faces} faces, more than PublicTest's {PUBLIC_TEST_FACES}: it likely holds PrivateTest \
             too, so test figures on it are not PublicTest figures (fer2013.csv keeps the two apart)",
            folder.display()
        )
    })
}

fn read_folders(splits: &[(OfficialSplit, PathBuf)]) -> Result<Listing, DataError> {
    let mut listing = Listing::default();
    for (split, split_dir) in splits {
        let before = listing.entries.len();
        for (class_dir, folder) in class_folders(split_dir, &mut listing)? {
            let label = Emotion::from_fer2013_folder(&folder);
            for (path, name) in class_folder_files(&class_dir, &mut listing)? {
                let display = path.display().to_string();
                match &label {
                    Ok(label) => listing.entries.push(Entry {
                        origin: Origin::File(path),
                        display,
                        label: *label,
                        subject: name.clone(),
                        source: name,
                        official: Some(*split),
                        votes: None,
                    }),
                    Err(e) => listing.skip(display, SkipReason::UnknownLabel, e.to_string()),
                }
            }
        }
        if *split == OfficialSplit::Test
            && let Some(warning) = test_folder_warning(split_dir, listing.entries.len() - before)
        {
            tracing::warn!("{warning}");
        }
    }
    Ok(listing)
}

/// Column positions, from the header or the original order.
struct Columns {
    emotion: usize,
    pixels: usize,
    usage: Option<usize>,
}

/// Reads the original `fer2013.csv`.
pub fn read_csv(path: &Path) -> Result<Listing, DataError> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let name = file_name(path);
    let mut listing = Listing::default();
    let mut columns = Columns {
        emotion: 0,
        pixels: 1,
        usage: Some(2),
    };
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line_no = index + 1;
        let line = line.map_err(|e| DataError::io(path, e))?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if index == 0 && fields.iter().any(|f| f.eq_ignore_ascii_case("pixels")) {
            let find = |n: &str| fields.iter().position(|f| f.eq_ignore_ascii_case(n));
            match (find("emotion"), find("pixels")) {
                (Some(emotion), Some(pixels)) => {
                    columns = Columns {
                        emotion,
                        pixels,
                        usage: find("usage"),
                    }
                }
                _ => {
                    return Err(DataError::UnknownLayout {
                        path: path.to_path_buf(),
                        why: format!("CSV header {line:?} lacks an emotion or pixels column"),
                    });
                }
            }
            continue;
        }
        let source = format!("{name}#row{line_no}");
        let display = format!("{}#row{line_no}", path.display());
        match parse_row(&fields, &columns) {
            Ok((label, split, pixels)) => {
                let origin = Origin::Pixels {
                    width: SIDE,
                    height: SIDE,
                    pixels,
                };
                listing.entries.push(Entry {
                    origin,
                    display,
                    label,
                    subject: source.clone(),
                    source,
                    official: Some(split),
                    votes: None,
                });
            }
            Err((reason, detail)) => listing.skip(display, reason, detail),
        }
    }
    if listing.entries.is_empty() && listing.skipped.is_empty() {
        listing.skip(path.display().to_string(), SkipReason::EmptyFolder, "CSV has no rows");
    }
    Ok(listing)
}

type RowError = (SkipReason, String);

fn parse_row(fields: &[&str], columns: &Columns) -> Result<(Emotion, OfficialSplit, Vec<u8>), RowError> {
    let field = |i: usize| {
        fields
            .get(i)
            .copied()
            .ok_or((SkipReason::WrongSize, format!("row has {} fields", fields.len())))
    };
    let emotion = field(columns.emotion)?;
    let index: i64 = emotion
        .parse()
        .map_err(|_| (SkipReason::UnknownLabel, format!("emotion {emotion:?}")))?;
    let label = Emotion::from_fer2013_index(index).map_err(|e| (SkipReason::UnknownLabel, e.to_string()))?;
    let split = match columns.usage {
        Some(i) => match field(i)? {
            "Training" => OfficialSplit::Train,
            "PublicTest" => OfficialSplit::Test,
            "PrivateTest" => return Err((SkipReason::HeldOut, "PrivateTest".into())),
            other => return Err((SkipReason::UnknownLabel, format!("usage {other:?}"))),
        },
        None => OfficialSplit::Train,
    };
    let mut pixels = Vec::with_capacity((SIDE * SIDE) as usize);
    for value in field(columns.pixels)?.split_ascii_whitespace() {
        let v: u8 = value
            .parse()
            .map_err(|_| (SkipReason::WrongSize, format!("pixel value {value:?} is not 0..255")))?;
        pixels.push(v);
    }
    if pixels.len() != (SIDE * SIDE) as usize {
        return Err((
            SkipReason::WrongSize,
            format!("{} pixels, expected {}", pixels.len(), SIDE * SIDE),
        ));
    }
    Ok((label, split, pixels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::test_util::{write_png, write_truncated_png};

    #[test]
    fn a_test_folder_larger_than_publictest_is_flagged() {
        let folder = Path::new("fer2013/test");
        assert_eq!(test_folder_warning(folder, PUBLIC_TEST_FACES), None);
        let warning = test_folder_warning(folder, 7_178).expect("flagged");
        assert!(
            warning.contains("fer2013/test: 7178 faces") && warning.contains("PrivateTest"),
            "{warning}"
        );
    }

    fn row(emotion: &str, n: usize, usage: &str) -> String {
        let pixels: Vec<String> = (0..n).map(|i| (i % 256).to_string()).collect();
        format!("{emotion},{},{usage}\n", pixels.join(" "))
    }

    #[test]
    fn csv_rows_are_checked_one_by_one() {
        let tmp = tempfile::tempdir().unwrap();
        let csv = tmp.path().join("fer2013.csv");
        let mut text = String::from("emotion,pixels,Usage\n");
        text += &row("3", 2304, "Training"); // line 2: ok
        text += &row("6", 2304, "PublicTest"); // line 3: ok
        text += &row("0", 2303, "Training"); // line 4: one pixel short
        text += &row("9", 2304, "Training"); // line 5: no such emotion
        text += &row("1", 2304, "PrivateTest"); // line 6: held out
        text += &row("2", 2304, "Elsewhere"); // line 7: unknown usage
        text += "4,1 2 300,Training\n"; // line 8: value out of range
        text += "5\n"; // line 9: too few fields
        std::fs::write(&csv, text).unwrap();

        let listing = read(tmp.path()).unwrap();
        let got: Vec<_> = listing
            .entries
            .iter()
            .map(|e| (e.label, e.official, e.source.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (Emotion::Happy, Some(OfficialSplit::Train), "fer2013.csv#row2"),
                (Emotion::Neutral, Some(OfficialSplit::Test), "fer2013.csv#row3"),
            ]
        );
        let skipped: Vec<_> = listing
            .skipped
            .iter()
            .map(|s| (s.path.rsplit('#').next().unwrap(), s.reason))
            .collect();
        assert_eq!(
            skipped,
            [
                ("row4", SkipReason::WrongSize),
                ("row5", SkipReason::UnknownLabel),
                ("row6", SkipReason::HeldOut),
                ("row7", SkipReason::UnknownLabel),
                ("row8", SkipReason::WrongSize),
                ("row9", SkipReason::WrongSize),
            ]
        );
        assert!(listing.skipped[0].detail.contains("2303"));
        match &listing.entries[0].origin {
            Origin::Pixels {
                width: 48,
                height: 48,
                pixels,
            } => assert_eq!(pixels[..3], [0, 1, 2]),
            other => panic!("unexpected origin {other:?}"),
        }
    }

    #[test]
    fn csv_columns_follow_the_header() {
        let tmp = tempfile::tempdir().unwrap();
        let csv = tmp.path().join("mine.csv");
        let pixels = vec!["7"; 2304].join(" ");
        std::fs::write(&csv, format!("Usage,emotion,pixels\nPublicTest,5,{pixels}\n")).unwrap();
        let listing = read(&csv).unwrap();
        assert_eq!(listing.entries.len(), 1);
        assert_eq!(listing.entries[0].label, Emotion::Surprised);
        assert_eq!(listing.entries[0].official, Some(OfficialSplit::Test));
    }

    #[test]
    fn folders_give_the_official_split_and_report_bad_input() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write_png(&d.join("train/happy/Training_1.png"), 48, 48, 1);
        write_png(&d.join("train/contempt/Training_2.png"), 48, 48, 2);
        write_truncated_png(&d.join("train/sad/Training_3.png"));
        write_png(&d.join("val/angry/PublicTest_1.png"), 48, 48, 3);
        std::fs::create_dir_all(d.join("val/fear")).unwrap();
        let listing = read(d).unwrap();
        let got: Vec<_> = listing
            .entries
            .iter()
            .map(|e| (e.source.as_str(), e.official))
            .collect();
        // The truncated file is listed here and reported when decoding fails.
        assert_eq!(
            got,
            [
                ("Training_1.png", Some(OfficialSplit::Train)),
                ("Training_3.png", Some(OfficialSplit::Train)),
                ("PublicTest_1.png", Some(OfficialSplit::Test)),
            ]
        );
        let reasons: Vec<_> = listing.skipped.iter().map(|s| s.reason).collect();
        assert_eq!(reasons, [SkipReason::UnknownLabel, SkipReason::EmptyFolder]);
        assert!(listing.skipped[1].path.ends_with("fear"));
    }

    #[test]
    fn a_directory_without_either_layout_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(read(tmp.path()), Err(DataError::UnknownLayout { .. })));
    }
}
