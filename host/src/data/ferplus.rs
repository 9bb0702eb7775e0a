//! FER+ reader: FER2013's faces relabelled by ten annotators each (Barsoum et al., 2016).
//!
//! Layout: `FER2013Train/` and `FER2013Valid/` (and, where present, `FER2013Test/`, which is
//! held out like FER2013's PrivateTest), each with `fer<NNNNNNN>.png` files and a headerless
//! `label.csv` of `name,"(x, y, w, h)",` followed by ten vote counts in
//! [`FERPLUS_COLUMNS`] order.
//!
//! Why the votes travel with every sample: FER+'s authors train best on the vote distribution
//! ("probability" protocol), so the seven emotion votes are kept ([`super::Sample::votes`]) and
//! the trainer turns them into soft targets. The hard label of every face is FER+'s
//! "majority" label ([`FerPlusVotes::majority`]); faces without one (most votes on contempt,
//! unknown or not-a-face, or a tie) are skipped, so evaluation follows the majority protocol.
//! FER+ Train is the training split (validation is carved from it) and FER+ Valid is the test
//! split under every protocol: it is FER2013's PublicTest, never trained on.

use std::io::BufRead;
use std::path::Path;

use shared::labels::{FERPLUS_COLUMNS, FerPlusVotes};

use super::{DataError, Entry, Listing, OfficialSplit, Origin, SkipReason, file_name, sorted_dir};

/// Folder names of the official parts (case-insensitive), with the part each one is.
const PARTS: [(&str, Option<OfficialSplit>); 3] = [
    ("fer2013train", Some(OfficialSplit::Train)),
    ("fer2013valid", Some(OfficialSplit::Test)),
    ("fer2013test", None),
];

/// The label file of each part.
pub const LABEL_FILE: &str = "label.csv";

/// Whether `dir` has FER+'s layout (a `FER2013Train/label.csv`).
pub fn is_ferplus(dir: &Path) -> bool {
    sorted_dir(dir).is_ok_and(|children| {
        children
            .iter()
            .any(|c| file_name(c).eq_ignore_ascii_case("fer2013train") && c.join(LABEL_FILE).is_file())
    })
}

/// Why a `label.csv` line was skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum LineError {
    #[error("no comma")]
    NoComma,
    #[error("unterminated face box")]
    UnterminatedBox,
    #[error("no votes after the face box")]
    NoVotes,
    #[error("{0} vote columns, expected {cols}", cols = FERPLUS_COLUMNS.len())]
    VoteColumns(usize),
    #[error("vote {0:?} is not a count")]
    Vote(String),
    #[error("bad file name {0:?}")]
    FileName(String),
}

/// Parses one `label.csv` line: the file name and the ten votes.
fn parse_line(line: &str) -> Result<(String, FerPlusVotes), LineError> {
    // The box field is quoted and holds commas: `fer0000000.png,"(0, 0, 48, 48)",4,0,...`.
    let (name, rest) = line.split_once(',').ok_or(LineError::NoComma)?;
    let votes_text = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split_once("\",").ok_or(LineError::UnterminatedBox)?.1,
        None => rest.split_once(',').ok_or(LineError::NoVotes)?.1,
    };
    let fields: Vec<&str> = votes_text.split(',').map(str::trim).collect();
    if fields.len() != FERPLUS_COLUMNS.len() {
        return Err(LineError::VoteColumns(fields.len()));
    }
    let mut votes = [0u8; 10];
    for (v, f) in votes.iter_mut().zip(&fields) {
        *v = f.parse().map_err(|_| LineError::Vote(f.to_string()))?;
    }
    let name = name.trim();
    if name.is_empty() || name.contains(['/', '\\']) || name == ".." {
        return Err(LineError::FileName(name.to_string()));
    }
    Ok((name.to_string(), FerPlusVotes(votes)))
}

/// Lists a FER+ directory.
pub fn read(dir: &Path) -> Result<Listing, DataError> {
    let mut listing = Listing::default();
    let mut found = false;
    for child in sorted_dir(dir)? {
        let folder = file_name(&child);
        let Some(&(_, official)) = PARTS.iter().find(|(n, _)| folder.eq_ignore_ascii_case(n)) else {
            continue;
        };
        let labels = child.join(LABEL_FILE);
        if !labels.is_file() {
            listing.skip(labels.display().to_string(), SkipReason::MissingFile, "no label.csv");
            continue;
        }
        found = true;
        let Some(official) = official else {
            listing.skip(
                child.display().to_string(),
                SkipReason::HeldOut,
                "FER+ test part (FER2013 PrivateTest) is held out",
            );
            continue;
        };
        let file = std::fs::File::open(&labels).map_err(|e| DataError::io(&labels, e))?;
        for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| DataError::io(&labels, e))?;
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let display = format!("{}#{}", labels.display(), index + 1);
            let (name, votes) = match parse_line(line) {
                Ok(parsed) => parsed,
                Err(why) => {
                    listing.skip(display, SkipReason::WrongSize, why.to_string());
                    continue;
                }
            };
            let Some(label) = votes.majority() else {
                listing.skip(
                    display,
                    SkipReason::DroppedLabel,
                    format!("no FER+ majority emotion (votes {:?})", votes.0),
                );
                continue;
            };
            let path = child.join(&name);
            if !path.is_file() {
                listing.skip(
                    path.display().to_string(),
                    SkipReason::MissingFile,
                    "listed in label.csv",
                );
                continue;
            }
            listing.entries.push(Entry {
                origin: Origin::File(path.clone()),
                display: path.display().to_string(),
                label,
                subject: name.clone(),
                source: name,
                official: Some(official),
                votes: Some(votes.emotion_votes()),
            });
        }
    }
    if !found {
        return Err(DataError::UnknownLayout {
            path: dir.to_path_buf(),
            why: "expected FER+ FER2013Train/ and FER2013Valid/ folders with label.csv".into(),
        });
    }
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use shared::Emotion;

    use super::super::test_util::write_png;
    use super::*;

    #[test]
    fn parses_quoted_box_and_votes() {
        let (name, votes) = parse_line(r#"fer0000000.png,"(0, 0, 48, 48)",4,0,0,1,3,2,0,0,0,0"#).unwrap();
        assert_eq!(name, "fer0000000.png");
        assert_eq!(votes.0, [4, 0, 0, 1, 3, 2, 0, 0, 0, 0]);
        let short = parse_line(r#"a.png,"(0, 0, 48, 48)",4,0,0"#).unwrap_err();
        assert_eq!(short, LineError::VoteColumns(3));
        assert_eq!(short.to_string(), "3 vote columns, expected 10");
        let vote = parse_line(r#"a.png,"(0, 0, 48, 48)",4,0,0,1,3,2,0,0,0,x"#).unwrap_err();
        assert_eq!(vote.to_string(), r#"vote "x" is not a count"#);
        assert_eq!(
            parse_line(r#"../a.png,"(0, 0, 48, 48)",4,0,0,1,3,2,0,0,0,0"#),
            Err(LineError::FileName("../a.png".into()))
        );
        assert_eq!(parse_line("no-commas"), Err(LineError::NoComma));
        assert_eq!(parse_line(r#"a.png,"(0, 0"#), Err(LineError::UnterminatedBox));
        assert_eq!(parse_line("a.png,box"), Err(LineError::NoVotes));
    }

    #[test]
    fn reads_parts_keeps_votes_and_skips_without_majority() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let train = root.join("FER2013Train");
        let valid = root.join("FER2013Valid");
        for (i, dir) in [&train, &train, &train, &valid].iter().enumerate() {
            write_png(&dir.join(format!("fer{i:07}.png")), 48, 48, i as u8);
        }
        std::fs::write(
            train.join(LABEL_FILE),
            "fer0000000.png,\"(0, 0, 48, 48)\",0,9,0,0,0,0,0,0,1,0\n\
             fer0000001.png,\"(0, 0, 48, 48)\",0,0,0,0,0,0,0,0,6,4\n\
             fer0000002.png,\"(0, 0, 48, 48)\",1,0,0,0,6,3,0,0,0,0\n\
             fer0000009.png,\"(0, 0, 48, 48)\",10,0,0,0,0,0,0,0,0,0\n\
             garbage\n",
        )
        .unwrap();
        std::fs::write(
            valid.join(LABEL_FILE),
            "fer0000003.png,\"(0, 0, 48, 48)\",0,0,8,0,0,0,2,0,0,0\n",
        )
        .unwrap();
        assert!(is_ferplus(root));
        let listing = read(root).unwrap();
        assert_eq!(
            listing.summary(),
            [
                ("fer0000000.png", Emotion::Happy, Some(OfficialSplit::Train)),
                ("fer0000002.png", Emotion::Angry, Some(OfficialSplit::Train)),
                ("fer0000003.png", Emotion::Surprised, Some(OfficialSplit::Test)),
            ]
        );
        // angry, bored, fear, happy, neutral, sad, surprised
        assert_eq!(listing.entries[1].votes, Some([6, 3, 0, 0, 1, 0, 0]));
        let reasons: Vec<SkipReason> = listing.skipped.iter().map(|s| s.reason).collect();
        assert_eq!(
            reasons,
            [SkipReason::DroppedLabel, SkipReason::MissingFile, SkipReason::WrongSize]
        );
    }

    #[test]
    fn another_layout_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(!is_ferplus(tmp.path()));
        assert!(matches!(read(tmp.path()), Err(DataError::UnknownLayout { .. })));
    }
}
