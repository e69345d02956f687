//! The MovieLens datasets this crate knows: names, official URLs, file layouts and checksums.

use std::fmt;
use std::str::FromStr;

use crate::error::DatasetError;

/// Where GroupLens publishes the MovieLens archives (`<base>/<name>.zip`, `<base>/<name>.zip.md5`).
pub const OFFICIAL_BASE_URL: &str = "https://files.grouplens.org/datasets/movielens";

/// One of the MovieLens rating datasets published by GroupLens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DatasetName {
    /// MovieLens 100K (1998): 100,000 ratings, 943 users, 1,682 movies; official 5-fold splits.
    Ml100k,
    /// MovieLens 1M (2003): 1,000,209 ratings, 6,040 users.
    Ml1m,
    /// MovieLens 10M (2009): 10,000,054 ratings, half stars.
    Ml10m,
    /// MovieLens 20M (2015): 20,000,263 ratings, 138,493 users, 26,744 rated movies.
    Ml20m,
    /// MovieLens 25M (2019): 25,000,095 ratings.
    Ml25m,
    /// MovieLens Latest (full): changes over time, so its checksum is fetched at download time.
    MlLatest,
    /// MovieLens Latest Small (2018-09-26 release): 100,836 ratings, 610 users.
    MlLatestSmall,
}

/// How a ratings file is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RatingsFormat {
    /// ml-100k `u.data`, `u1.base`, ...: `user \t item \t rating \t timestamp`, no header.
    Tab,
    /// ml-1m / ml-10m `ratings.dat`: `UserID::MovieID::Rating::Timestamp`, no header.
    Dat,
    /// ml-20m and later `ratings.csv`: header `userId,movieId,rating,timestamp`.
    Csv,
}

/// How a movies file is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MoviesFormat {
    /// ml-100k `u.item`: `|`-separated, latin-1, 19 genre flags.
    Ml100kItem,
    /// ml-1m / ml-10m `movies.dat`: `MovieID::Title::Genres`, in the given encoding.
    Dat(Encoding),
    /// ml-20m and later `movies.csv`: header `movieId,title,genres`, RFC 4180 quoting, UTF-8.
    Csv,
}

/// Text encoding of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// UTF-8 (invalid sequences are an error).
    Utf8,
    /// ISO-8859-1: every byte is the code point of the same value.
    Latin1,
    /// UTF-8 where a line is valid UTF-8, else latin-1: for files of unknown origin.
    Utf8OrLatin1,
}

/// Static facts about one dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatasetInfo {
    /// The dataset.
    pub name: DatasetName,
    /// The folder inside the official zip (`ml-10M100K` for ml-10m, otherwise the name).
    pub zip_folder: &'static str,
    /// The ratings file's name inside the dataset folder.
    pub ratings_file: &'static str,
    /// The ratings file's format.
    pub ratings_format: RatingsFormat,
    /// The movies file's name inside the dataset folder.
    pub movies_file: &'static str,
    /// The movies file's format.
    pub movies_format: MoviesFormat,
    /// The md5 of the official zip as GroupLens publishes it; `None` when it must be fetched
    /// (`<url>.md5`) at download time because the archive changes (ml-latest).
    pub archive_md5: Option<&'static str>,
    /// Members extracted besides the ratings and movies files; a download fails without them.
    pub extra_members: &'static [&'static str],
    /// Members extracted when the archive has them (READMEs, tags, links).
    pub optional_members: &'static [&'static str],
    /// Known sha256 of extracted files, `(file, hex)`, from the data README.
    pub known_sha256: &'static [(&'static str, &'static str)],
}

const ML100K_FOLDS: &[&str] = &[
    "u1.base",
    "u1.test",
    "u2.base",
    "u2.test",
    "u3.base",
    "u3.test",
    "u4.base",
    "u4.test",
    "u5.base",
    "u5.test",
    "ua.base",
    "ua.test",
    "ub.base",
    "ub.test",
    "u.genre",
    "u.info",
    "u.user",
    "u.occupation",
];

const ML100K_SHA256: &[(&str, &str)] = &[
    ("README", "4883b8cf340ed0059971b33f56ad3adc88a40792108ebca3d24aafc4c82e8b52"),
    ("u.data", "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"),
    ("u.genre", "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb"),
    ("u.info", "5b0a40b2e47a729ee6203063f6dcf8790c2e63f5a18663e6ee318a72c5f3c27b"),
    ("u.item", "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701"),
    ("u.occupation", "cd5fbec9afe345d993a62fc7817df1a4a9079c4feb267b3118763b8fd942137d"),
    ("u.user", "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c"),
    ("u1.base", "ce253ec86c448b44fb3ba9a30d12dcfc2e9210cbde71efada3730c22e9ac212a"),
    ("u1.test", "18c6014a4b2c7324f250a63f8904a7b16b2b19f911129e346141507b0cbac950"),
    ("u2.base", "6c06f0b5df4b256da1a994f3ac66edc8da4d3f09bc9282df6b14d893366d703e"),
    ("u2.test", "4de658d1e04ed9104629509a2e2528fce833ac8e048280183f1df167632038c3"),
    ("u3.base", "afdc155c291c6edc41c0407e39d7462eb98d341e064f0b0a12175b80b3c4af5d"),
    ("u3.test", "0f548b51c78327de4c156461d3e430b7e5579fe2b5681586a59416e48fd35f6d"),
    ("u4.base", "219f0f4d40dfe9c5141d425f53fa91ee23ed275f14e280bbf1b50117afb064ca"),
    ("u4.test", "7c02ad0a1e7ab1083c8b9d4b627203a051dd7b5eab46d99fa44de33470de8db9"),
    ("u5.base", "a9574e59ce961eec2121627760b6e9b0974ce1637b3fe69ac32cb14a4bfab485"),
    ("u5.test", "351cc52e0d15b6c721466276fc24671d40936899e3d01fadeaf312915b8c5634"),
    ("ua.base", "67b5bcdb380c29f85d56a012ecd88612ae020f30a6730d117a334ee8203b91f2"),
    ("ua.test", "d0497e202417720f57a184ec8c66be2d1afa4ff41bb53787c57b28d6bf79bc42"),
    ("ub.base", "237254d253b6ad7de84f919d041055428646254f34ed8f562703c899430cd881"),
    ("ub.test", "d54a72d05730d5892062734b2bec73e976f9b713d18c828a18b968d6cce442da"),
];

const ML_LATEST_SMALL_SHA256: &[(&str, &str)] = &[
    ("README.txt", "63d22ac138e80fae37021797ed8e1b9424b5239dc576a137422adf783ae3f404"),
    ("links.csv", "97ad18e4e56a09363c65676b6cb3482ce3e2cea2372a24620c1599c843325f31"),
    ("movies.csv", "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07"),
    ("ratings.csv", "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646"),
    ("tags.csv", "92a9f8bb7916dceef6151209845788c3643f794dfa79d1feaec7121b5960399d"),
];

const CSV_OPTIONAL: &[&str] = &["README.txt", "links.csv", "tags.csv"];

const INFOS: [DatasetInfo; 7] = [
    DatasetInfo {
        name: DatasetName::Ml100k,
        zip_folder: "ml-100k",
        ratings_file: "u.data",
        ratings_format: RatingsFormat::Tab,
        movies_file: "u.item",
        movies_format: MoviesFormat::Ml100kItem,
        archive_md5: Some("0e33842e24a9c977be4e0107933c0723"),
        extra_members: ML100K_FOLDS,
        optional_members: &["README", "allbut.pl", "mku.sh"],
        known_sha256: ML100K_SHA256,
    },
    DatasetInfo {
        name: DatasetName::Ml1m,
        zip_folder: "ml-1m",
        ratings_file: "ratings.dat",
        ratings_format: RatingsFormat::Dat,
        movies_file: "movies.dat",
        movies_format: MoviesFormat::Dat(Encoding::Latin1),
        archive_md5: Some("c4d9eecfca2ab87c1945afe126590906"),
        extra_members: &[],
        optional_members: &["README", "users.dat"],
        known_sha256: &[],
    },
    DatasetInfo {
        name: DatasetName::Ml10m,
        zip_folder: "ml-10M100K",
        ratings_file: "ratings.dat",
        ratings_format: RatingsFormat::Dat,
        movies_file: "movies.dat",
        movies_format: MoviesFormat::Dat(Encoding::Utf8),
        archive_md5: Some("ce571fd55effeba0271552578f2648bd"),
        extra_members: &[],
        optional_members: &["README.html", "tags.dat"],
        known_sha256: &[],
    },
    DatasetInfo {
        name: DatasetName::Ml20m,
        zip_folder: "ml-20m",
        ratings_file: "ratings.csv",
        ratings_format: RatingsFormat::Csv,
        movies_file: "movies.csv",
        movies_format: MoviesFormat::Csv,
        archive_md5: Some("cd245b17a1ae2cc31bb14903e1204af3"),
        extra_members: &[],
        optional_members: CSV_OPTIONAL,
        known_sha256: &[],
    },
    DatasetInfo {
        name: DatasetName::Ml25m,
        zip_folder: "ml-25m",
        ratings_file: "ratings.csv",
        ratings_format: RatingsFormat::Csv,
        movies_file: "movies.csv",
        movies_format: MoviesFormat::Csv,
        archive_md5: Some("6b51fb2759a8657d3bfcbfc42b592ada"),
        extra_members: &[],
        optional_members: CSV_OPTIONAL,
        known_sha256: &[],
    },
    DatasetInfo {
        name: DatasetName::MlLatest,
        zip_folder: "ml-latest",
        ratings_file: "ratings.csv",
        ratings_format: RatingsFormat::Csv,
        movies_file: "movies.csv",
        movies_format: MoviesFormat::Csv,
        archive_md5: None,
        extra_members: &[],
        optional_members: CSV_OPTIONAL,
        known_sha256: &[],
    },
    DatasetInfo {
        name: DatasetName::MlLatestSmall,
        zip_folder: "ml-latest-small",
        ratings_file: "ratings.csv",
        ratings_format: RatingsFormat::Csv,
        movies_file: "movies.csv",
        movies_format: MoviesFormat::Csv,
        archive_md5: Some("31a303aabbc519bd33d025e44d6c2570"),
        extra_members: &[],
        optional_members: CSV_OPTIONAL,
        known_sha256: ML_LATEST_SMALL_SHA256,
    },
];

impl DatasetName {
    /// Every dataset, smallest first within each family.
    pub fn all() -> [DatasetName; 7] {
        [
            DatasetName::Ml100k,
            DatasetName::Ml1m,
            DatasetName::Ml10m,
            DatasetName::Ml20m,
            DatasetName::Ml25m,
            DatasetName::MlLatest,
            DatasetName::MlLatestSmall,
        ]
    }

    /// The GroupLens name (`ml-100k`, ..., `ml-latest-small`), also the local folder name.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetName::Ml100k => "ml-100k",
            DatasetName::Ml1m => "ml-1m",
            DatasetName::Ml10m => "ml-10m",
            DatasetName::Ml20m => "ml-20m",
            DatasetName::Ml25m => "ml-25m",
            DatasetName::MlLatest => "ml-latest",
            DatasetName::MlLatestSmall => "ml-latest-small",
        }
    }

    /// Layout, formats and checksums of this dataset.
    pub fn info(self) -> &'static DatasetInfo {
        &INFOS[self as usize]
    }

    /// The official archive URL, `https://files.grouplens.org/datasets/movielens/<name>.zip`.
    pub fn url(self) -> String {
        archive_url(OFFICIAL_BASE_URL, self)
    }
}

/// `<base>/<name>.zip`, with one slash between base and name.
pub fn archive_url(base_url: &str, name: DatasetName) -> String {
    format!("{}/{}.zip", base_url.trim_end_matches('/'), name.as_str())
}

impl DatasetInfo {
    /// Every member a download must find: ratings, movies and [`DatasetInfo::extra_members`].
    pub fn required_members(&self) -> impl Iterator<Item = &'static str> {
        [self.ratings_file, self.movies_file].into_iter().chain(self.extra_members.iter().copied())
    }

    /// The known sha256 of an extracted file, if the data README gives one.
    pub fn known_sha256(&self, file: &str) -> Option<&'static str> {
        self.known_sha256.iter().find(|(f, _)| *f == file).map(|(_, hex)| *hex)
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatasetName {
    type Err = DatasetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DatasetName::all().into_iter().find(|name| name.as_str() == s).ok_or_else(|| {
            DatasetError::UnknownDataset {
                name: s.to_owned(),
                expected: DatasetName::all().map(DatasetName::as_str).join(", "),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_index_their_info() {
        for name in DatasetName::all() {
            assert_eq!(name.to_string().parse::<DatasetName>().unwrap(), name);
            assert_eq!(name.info().name, name);
            assert_eq!(name.url(), format!("https://files.grouplens.org/datasets/movielens/{name}.zip"));
        }
        let err = "ml-2m".parse::<DatasetName>().unwrap_err();
        assert!(err.to_string().starts_with(r#"unknown dataset "ml-2m": expected one of ml-100k, ml-1m"#));
    }

    #[test]
    fn layout_facts() {
        assert_eq!(DatasetName::Ml10m.info().zip_folder, "ml-10M100K");
        assert_eq!(DatasetName::Ml1m.info().movies_format, MoviesFormat::Dat(Encoding::Latin1));
        assert_eq!(DatasetName::Ml10m.info().movies_format, MoviesFormat::Dat(Encoding::Utf8));
        assert_eq!(DatasetName::MlLatest.info().archive_md5, None);
        assert_eq!(
            DatasetName::Ml100k.info().known_sha256("u.data"),
            Some("06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490")
        );
        assert_eq!(DatasetName::Ml100k.info().required_members().count(), 20);
        assert_eq!(archive_url("http://127.0.0.1:9/", DatasetName::Ml1m), "http://127.0.0.1:9/ml-1m.zip");
        // Every extracted file with a known hash is one the downloader extracts.
        for name in DatasetName::all() {
            let info = name.info();
            for (file, hex) in info.known_sha256 {
                assert_eq!(hex.len(), 64);
                assert!(
                    info.required_members().chain(info.optional_members.iter().copied()).any(|m| m == *file)
                );
            }
        }
    }
}
