//! The datasets a model learns from and the split protocols it is tested under.
//!
//! They live here, beside the labels, because a model's manifest names them: the trainer
//! writes them and the edge reads them back, so both need one spelling. Stable machine names
//! (`ckplus`, `subject`, ...) are what files, command lines and manifests use; serde's
//! default form (the variant name) is what training checkpoints and caches record.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

/// A name that is not one of the known datasets or split protocols.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {name:?} (expected {expected})")]
pub struct UnknownName {
    /// What was being named ("dataset", "split protocol").
    pub what: &'static str,
    /// The name given.
    pub name: alloc::string::String,
    /// The accepted names, for the message.
    pub expected: &'static str,
}

/// The datasets the pipeline reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum DatasetKind {
    /// CK+ (the 48x48 "CK+48" cut), class folders.
    #[cfg_attr(feature = "clap", value(name = "ckplus"))]
    CkPlus,
    /// JAFFE, 256x256 whole-head TIFFs, label in the file name.
    #[cfg_attr(feature = "clap", value(name = "jaffe"))]
    Jaffe,
    /// FER2013, class folders of 48x48 JPEGs or the original `fer2013.csv`.
    #[cfg_attr(feature = "clap", value(name = "fer2013"))]
    Fer2013,
    /// RAF-DB basic, aligned 100x100 colour images and a label list.
    #[cfg_attr(feature = "clap", value(name = "rafdb"))]
    RafDb,
    /// FER+: FER2013's faces (lossless PNGs) with ten annotators' votes each.
    #[cfg_attr(feature = "clap", value(name = "ferplus"))]
    FerPlus,
}

impl DatasetKind {
    /// All datasets.
    pub const ALL: [DatasetKind; 5] = [
        DatasetKind::CkPlus,
        DatasetKind::Jaffe,
        DatasetKind::Fer2013,
        DatasetKind::RafDb,
        DatasetKind::FerPlus,
    ];

    /// Stable machine name, used in file names, on the command line and in manifests.
    pub const fn name(self) -> &'static str {
        match self {
            DatasetKind::CkPlus => "ckplus",
            DatasetKind::Jaffe => "jaffe",
            DatasetKind::Fer2013 => "fer2013",
            DatasetKind::RafDb => "rafdb",
            DatasetKind::FerPlus => "ferplus",
        }
    }

    /// Whether the images are already cropped to the face (so the whole image is the box).
    pub const fn pre_cropped(self) -> bool {
        !matches!(self, DatasetKind::Jaffe)
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DatasetKind {
    type Err = UnknownName;

    /// The machine name, case-insensitive, or a common spelling (`ck+`, `fer+`, `raf-db`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        let alias = match lower.as_str() {
            "ck+" | "ck" | "ck+48" => "ckplus",
            "fer" => "fer2013",
            "fer+" => "ferplus",
            "raf-db" | "raf" => "rafdb",
            other => other,
        };
        DatasetKind::ALL
            .into_iter()
            .find(|k| k.name() == alias)
            .ok_or_else(|| UnknownName {
                what: "dataset",
                name: s.into(),
                expected: "ckplus, jaffe, fer2013, ferplus or rafdb",
            })
    }
}

/// How a dataset is divided into train / validation / test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum SplitProtocol {
    /// The paper's: random 4:1 train:test per dataset (stratified by class), then 10% of the
    /// training images for validation. Near-identical frames of one person can land on both
    /// sides, which inflates CK+ and JAFFE accuracy.
    #[default]
    #[cfg_attr(feature = "clap", value(name = "paper"))]
    Paper,
    /// Subject-independent: CK+ grouped by subject, JAFFE by poser (validation grouped too);
    /// FER2013, FER+ and RAF-DB use their own official train / test splits.
    #[cfg_attr(feature = "clap", value(name = "subject"))]
    Subject,
}

impl SplitProtocol {
    /// Stable machine name.
    pub const fn name(self) -> &'static str {
        match self {
            SplitProtocol::Paper => "paper",
            SplitProtocol::Subject => "subject",
        }
    }
}

impl fmt::Display for SplitProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SplitProtocol {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "paper" | "random" => Ok(SplitProtocol::Paper),
            "subject" | "subject-independent" => Ok(SplitProtocol::Subject),
            _ => Err(UnknownName {
                what: "split protocol",
                name: s.into(),
                expected: "paper or subject",
            }),
        }
    }
}

/// Serde by machine name (`"ckplus"`, `"subject"`): how a manifest writes these, so that its
/// JSON reads as words and its postcard encoding is that of a string.
pub(crate) mod by_name {
    use alloc::string::String;
    use alloc::vec::Vec;
    use core::fmt::Display;
    use core::str::FromStr;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the value's name.
    pub fn serialize<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    /// Reads a name.
    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }

    /// The same for a list.
    pub mod list {
        use super::*;

        /// Writes each value's name.
        pub fn serialize<T: Display, S: Serializer>(values: &[T], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(values.iter().map(|v| alloc::format!("{v}")))
        }

        /// Reads a list of names.
        pub fn deserialize<'de, T, D>(d: D) -> Result<Vec<T>, D::Error>
        where
            T: FromStr,
            T::Err: Display,
            D: Deserializer<'de>,
        {
            Vec::<String>::deserialize(d)?
                .iter()
                .map(|n| n.parse().map_err(D::Error::custom))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases_parse() {
        for kind in DatasetKind::ALL {
            assert_eq!(kind.name().parse::<DatasetKind>(), Ok(kind));
        }
        assert_eq!("CK+".parse::<DatasetKind>(), Ok(DatasetKind::CkPlus));
        assert_eq!("fer+".parse::<DatasetKind>(), Ok(DatasetKind::FerPlus));
        let err = "kdef".parse::<DatasetKind>().unwrap_err();
        assert_eq!(
            alloc::string::ToString::to_string(&err),
            "unknown dataset \"kdef\" (expected ckplus, jaffe, fer2013, ferplus or rafdb)"
        );
        assert_eq!("Subject".parse::<SplitProtocol>(), Ok(SplitProtocol::Subject));
        assert!("kfold".parse::<SplitProtocol>().is_err());
    }
}
