//! Reading a dataset from the data directory or a single file, and turning ratings into engine logs.

use std::ffi::OsString;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use engine::InteractionLog;

use crate::catalog::{DatasetName, Encoding, MoviesFormat, RatingsFormat};
use crate::error::{DatasetError, Result};
use crate::parse::{parse_movies, parse_ratings, read_ratings};
use crate::types::{Movie, ParseMode, Parsed, Rating};

/// The environment variable that names the data directory.
pub const DATA_DIR_ENV: &str = "CINEREC_DATA_DIR";

const READ_BUFFER: usize = 1 << 18;

/// The data directory: `$CINEREC_DATA_DIR` if set, else `$XDG_CACHE_HOME/cinerec/datasets`, else
/// `$HOME/.cache/cinerec/datasets`. The directory need not exist yet.
pub fn data_dir() -> Result<PathBuf> {
    data_dir_from(|key| std::env::var_os(key))
}

fn data_dir_from(var: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf> {
    let set = |key| var(key).filter(|value| !value.is_empty()).map(PathBuf::from);
    if let Some(dir) = set(DATA_DIR_ENV) {
        return Ok(dir);
    }
    // The XDG spec says relative values are invalid and must be ignored.
    if let Some(cache) = set("XDG_CACHE_HOME").filter(|dir| dir.is_absolute()) {
        return Ok(cache.join("cinerec").join("datasets"));
    }
    set("HOME")
        .map(|home| home.join(".cache").join("cinerec").join("datasets"))
        .ok_or(DatasetError::NoDataDir)
}

/// The data directory for code run from a source checkout (tests, benches, examples):
/// `$CINEREC_DATA_DIR` (a relative value is taken from the workspace root, as CI sets it), else
/// `shared/datasets` beside the repository.
pub fn checkout_data_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match std::env::var_os(DATA_DIR_ENV).filter(|dir| !dir.is_empty()) {
        Some(dir) => workspace.join(dir), // `join` keeps an absolute path as is
        None => workspace.join("../shared/datasets"),
    }
}

/// The folder of `name` in `data_dir`: `<data_dir>/<name>`, or the zip's own folder name
/// (`ml-10M100K`) for a hand-extracted archive; [`DatasetError::NotPresent`] if neither exists.
pub fn dataset_dir(data_dir: &Path, name: DatasetName) -> Result<PathBuf> {
    [name.as_str(), name.info().zip_folder]
        .into_iter()
        .map(|folder| data_dir.join(folder))
        .find(|dir| dir.is_dir())
        .ok_or_else(|| DatasetError::NotPresent { name: name.to_string(), dir: data_dir.to_owned() })
}

/// All ratings of dataset `name` in `data_dir`, strictly parsed.
pub fn load_ratings(data_dir: &Path, name: DatasetName) -> Result<Vec<Rating>> {
    load_ratings_with(data_dir, name, ParseMode::Strict).map(|parsed| parsed.records)
}

/// All ratings of dataset `name` in `data_dir`, with the chosen [`ParseMode`].
pub fn load_ratings_with(data_dir: &Path, name: DatasetName, mode: ParseMode) -> Result<Parsed<Rating>> {
    let info = name.info();
    let path = dataset_dir(data_dir, name)?.join(info.ratings_file);
    parse_ratings(open(&path)?, info.ratings_format, &path.display().to_string(), mode)
}

/// All ratings of dataset `name` straight into an engine log, without an intermediate
/// `Vec<Rating>` (for ml-20m and larger).
pub fn load_ratings_log(data_dir: &Path, name: DatasetName) -> Result<InteractionLog> {
    let info = name.info();
    read_log(&dataset_dir(data_dir, name)?.join(info.ratings_file), info.ratings_format)
}

/// The ratings of one file straight into an engine log, line by line (format from its name,
/// [`ratings_format_of`]): they are held once, in the log, never also as a `Vec<Rating>`.
pub fn load_ratings_file_log(path: &Path) -> Result<InteractionLog> {
    read_log(path, ratings_format_of(path)?)
}

fn read_log(path: &Path, format: RatingsFormat) -> Result<InteractionLog> {
    let mut log = InteractionLog::new();
    let file = path.display().to_string();
    read_ratings(open(path)?, format, &file, ParseMode::Strict, |r| push(&mut log, &r))?;
    Ok(log)
}

/// The movie catalogue of dataset `name` in `data_dir`, strictly parsed.
pub fn load_movies(data_dir: &Path, name: DatasetName) -> Result<Vec<Movie>> {
    load_movies_with(data_dir, name, ParseMode::Strict).map(|parsed| parsed.records)
}

/// The movie catalogue of dataset `name` in `data_dir`, with the chosen [`ParseMode`].
pub fn load_movies_with(data_dir: &Path, name: DatasetName, mode: ParseMode) -> Result<Parsed<Movie>> {
    let info = name.info();
    let path = dataset_dir(data_dir, name)?.join(info.movies_file);
    parse_movies(open(&path)?, info.movies_format, &path.display().to_string(), mode)
}

/// The official ml-100k fold `fold` (1..=5): the ratings of `u<fold>.base` (train) and
/// `u<fold>.test` (test).
pub fn load_ml100k_fold(data_dir: &Path, fold: u8) -> Result<(Vec<Rating>, Vec<Rating>)> {
    if !(1..=5).contains(&fold) {
        return Err(DatasetError::InvalidParam {
            name: "ml-100k fold",
            value: fold.to_string(),
            allowed: "1..=5".into(),
        });
    }
    let dir = dataset_dir(data_dir, DatasetName::Ml100k)?;
    let train = load_ratings_file(&dir.join(format!("u{fold}.base")))?;
    let test = load_ratings_file(&dir.join(format!("u{fold}.test")))?;
    Ok((train, test))
}

/// The ratings format a file name implies: `u.data`, `*.base`, `*.test` → tab; `*.dat` → `::`;
/// `*.csv` → CSV with header.
pub fn ratings_format_of(path: &Path) -> Result<RatingsFormat> {
    let file_name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default();
    match path.extension().and_then(|ext| ext.to_str()) {
        _ if file_name == "u.data" => Ok(RatingsFormat::Tab),
        Some("base" | "test") => Ok(RatingsFormat::Tab),
        Some("dat") => Ok(RatingsFormat::Dat),
        Some("csv") => Ok(RatingsFormat::Csv),
        _ => Err(DatasetError::UnknownFormat { path: path.to_owned() }),
    }
}

/// The movies format a file name implies: `u.item` → ml-100k items (latin-1); `*.dat` → `::`
/// (UTF-8, or latin-1 for lines that are not UTF-8, so both ml-1m and ml-10m read right);
/// `*.csv` → CSV with header.
pub fn movies_format_of(path: &Path) -> Result<MoviesFormat> {
    let file_name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default();
    match path.extension().and_then(|ext| ext.to_str()) {
        _ if file_name == "u.item" => Ok(MoviesFormat::Ml100kItem),
        Some("dat") => Ok(MoviesFormat::Dat(Encoding::Utf8OrLatin1)),
        Some("csv") => Ok(MoviesFormat::Csv),
        _ => Err(DatasetError::UnknownFormat { path: path.to_owned() }),
    }
}

/// The movies file that sits next to a ratings file: `u.item` beside `u.data`/`*.base`/`*.test`,
/// `movies.dat` beside `*.dat`, `movies.csv` beside `*.csv`.
pub fn movies_file_for(ratings_path: &Path) -> Result<PathBuf> {
    let movies = match ratings_format_of(ratings_path)? {
        RatingsFormat::Tab => "u.item",
        RatingsFormat::Dat => "movies.dat",
        RatingsFormat::Csv => "movies.csv",
    };
    Ok(ratings_path.with_file_name(movies))
}

/// The ratings of one file, its format detected from its name ([`ratings_format_of`]).
pub fn load_ratings_file(path: &Path) -> Result<Vec<Rating>> {
    load_ratings_file_with(path, ParseMode::Strict).map(|parsed| parsed.records)
}

/// The ratings of one file with the chosen [`ParseMode`], its format detected from its name.
pub fn load_ratings_file_with(path: &Path, mode: ParseMode) -> Result<Parsed<Rating>> {
    let format = ratings_format_of(path)?;
    parse_ratings(open(path)?, format, &path.display().to_string(), mode)
}

/// The movies of one file, its format detected from its name ([`movies_format_of`]).
pub fn load_movies_file(path: &Path) -> Result<Vec<Movie>> {
    load_movies_file_with(path, ParseMode::Strict).map(|parsed| parsed.records)
}

/// The movies of one file with the chosen [`ParseMode`], its format detected from its name.
pub fn load_movies_file_with(path: &Path, mode: ParseMode) -> Result<Parsed<Movie>> {
    let format = movies_format_of(path)?;
    parse_movies(open(path)?, format, &path.display().to_string(), mode)
}

/// Where ratings come from, as a user types it: a dataset name or a path to a ratings file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RatingsSource {
    /// A dataset in the data directory.
    Named(DatasetName),
    /// A ratings file (format from its name).
    File(PathBuf),
}

impl FromStr for RatingsSource {
    type Err = std::convert::Infallible;

    /// A known dataset name is a [`RatingsSource::Named`]; anything else is a path.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(s.parse().map_or_else(|_| RatingsSource::File(PathBuf::from(s)), RatingsSource::Named))
    }
}

impl RatingsSource {
    /// The ratings (a named dataset is looked up in `data_dir`).
    pub fn load_ratings(&self, data_dir: &Path) -> Result<Vec<Rating>> {
        match self {
            RatingsSource::Named(name) => load_ratings(data_dir, *name),
            RatingsSource::File(path) => load_ratings_file(path),
        }
    }

    /// The movie catalogue that goes with the ratings (for a file, the one beside it).
    pub fn load_movies(&self, data_dir: &Path) -> Result<Vec<Movie>> {
        match self {
            RatingsSource::Named(name) => load_movies(data_dir, *name),
            RatingsSource::File(path) => load_movies_file(&movies_file_for(path)?),
        }
    }
}

fn open(path: &Path) -> Result<BufReader<fs_err::File>> {
    Ok(BufReader::with_capacity(READ_BUFFER, fs_err::File::open(path)?))
}

fn push(log: &mut InteractionLog, r: &Rating) {
    log.push(r.user_id, r.movie_id, r.rating, r.timestamp);
}

/// An engine log of `ratings`: dense indices in first-seen order, entries in input order.
pub fn ratings_to_log(ratings: &[Rating]) -> InteractionLog {
    let mut log = InteractionLog::new();
    log.entries.reserve(ratings.len());
    ratings.iter().for_each(|r| push(&mut log, r));
    log
}

/// Train and test logs that share one id map (train's ids first, then ids seen only in test),
/// so a dense index means the same user or movie in both.
pub fn ratings_to_logs(train: &[Rating], test: &[Rating]) -> (InteractionLog, InteractionLog) {
    let mut log = InteractionLog::new();
    log.entries.reserve(train.len() + test.len());
    train.iter().chain(test).for_each(|r| push(&mut log, r));
    let test_entries = log.entries.split_off(train.len());
    let test_log =
        InteractionLog { users: log.users.clone(), items: log.items.clone(), entries: test_entries };
    (log, test_log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_prefers_env_then_xdg_then_home() {
        fn env<'a>(pairs: &'a [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
            move |key| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| OsString::from(v))
        }
        let all = [("CINEREC_DATA_DIR", "/data"), ("XDG_CACHE_HOME", "/xdg"), ("HOME", "/home/u")];
        assert_eq!(data_dir_from(env(&all)).unwrap(), PathBuf::from("/data"));
        assert_eq!(
            data_dir_from(env(&[("CINEREC_DATA_DIR", ""), ("XDG_CACHE_HOME", "/xdg"), ("HOME", "/h")]))
                .unwrap(),
            PathBuf::from("/xdg/cinerec/datasets")
        );
        assert_eq!(
            data_dir_from(env(&[("XDG_CACHE_HOME", "rel"), ("HOME", "/h")])).unwrap(),
            PathBuf::from("/h/.cache/cinerec/datasets")
        );
        assert!(matches!(data_dir_from(env(&[])), Err(DatasetError::NoDataDir)));
    }

    #[test]
    fn formats_from_file_names() {
        let ratings = |p: &str| ratings_format_of(Path::new(p)).ok();
        assert_eq!(ratings("x/ml-100k/u.data"), Some(RatingsFormat::Tab));
        assert_eq!(ratings("u1.base"), Some(RatingsFormat::Tab));
        assert_eq!(ratings("ua.test"), Some(RatingsFormat::Tab));
        assert_eq!(ratings("ml-1m/ratings.dat"), Some(RatingsFormat::Dat));
        assert_eq!(ratings("ratings.csv"), Some(RatingsFormat::Csv));
        assert_eq!(ratings("ratings.parquet"), None);
        assert_eq!(ratings("u.item"), None);
        let movies = |p: &str| movies_format_of(Path::new(p)).ok();
        assert_eq!(movies("u.item"), Some(MoviesFormat::Ml100kItem));
        assert_eq!(movies("movies.dat"), Some(MoviesFormat::Dat(Encoding::Utf8OrLatin1)));
        assert_eq!(movies("movies.csv"), Some(MoviesFormat::Csv));
        assert_eq!(movies_file_for(Path::new("d/u3.base")).unwrap(), PathBuf::from("d/u.item"));
        assert_eq!(movies_file_for(Path::new("d/ratings.dat")).unwrap(), PathBuf::from("d/movies.dat"));
        let err = load_ratings_file(Path::new("d/ratings.json")).unwrap_err();
        assert!(err.to_string().starts_with("d/ratings.json: cannot tell the format"), "{err}");
    }

    #[test]
    fn sources_parse_names_before_paths() {
        assert_eq!("ml-1m".parse::<RatingsSource>().unwrap(), RatingsSource::Named(DatasetName::Ml1m));
        assert_eq!(
            "ml-1m/ratings.dat".parse::<RatingsSource>().unwrap(),
            RatingsSource::File("ml-1m/ratings.dat".into())
        );
    }

    fn rating(user_id: u64, movie_id: u64) -> Rating {
        Rating { user_id, movie_id, rating: 4.0, timestamp: 7 }
    }

    #[test]
    fn logs_map_ids_in_first_seen_order_and_share_maps() {
        let log = ratings_to_log(&[rating(610, 193_609), rating(1, 1), rating(610, 1)]);
        assert_eq!(log.users.as_slice(), [610, 1]);
        assert_eq!(log.items.as_slice(), [193_609, 1]);
        assert_eq!(log.entries[2].user_idx, 0);
        assert_eq!(log.entries[2].item_idx, 1);
        assert_eq!(log.entries[2].value, 4.0);
        assert_eq!(log.entries[2].timestamp, 7);

        let (train, test) = ratings_to_logs(&[rating(5, 50), rating(6, 60)], &[rating(6, 50), rating(7, 70)]);
        assert_eq!(train.entries.len(), 2);
        assert_eq!(test.entries.len(), 2);
        assert_eq!(train.users, test.users);
        assert_eq!(train.items, test.items);
        assert_eq!(train.users.as_slice(), [5, 6, 7]);
        assert_eq!((test.entries[0].user_idx, test.entries[0].item_idx), (1, 0));
        assert_eq!((test.entries[1].user_idx, test.entries[1].item_idx), (2, 2));
    }

    #[test]
    fn missing_datasets_and_bad_folds_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_ratings(dir.path(), DatasetName::Ml1m).unwrap_err();
        assert!(matches!(&err, DatasetError::NotPresent { name, .. } if name == "ml-1m"));
        assert!(err.to_string().contains("cinerec datasets download ml-1m"));
        let err = load_ml100k_fold(dir.path(), 6).unwrap_err();
        assert_eq!(err.to_string(), "invalid ml-100k fold 6: allowed 1..=5");
        // A hand-extracted ml-10m archive keeps its zip folder name.
        fs_err::create_dir(dir.path().join("ml-10M100K")).unwrap();
        assert_eq!(dataset_dir(dir.path(), DatasetName::Ml10m).unwrap(), dir.path().join("ml-10M100K"));
        fs_err::write(dir.path().join("ml-10M100K/ratings.dat"), "1::2::3::4\n1::3::x::5\n").unwrap();
        let err = load_ratings(dir.path(), DatasetName::Ml10m).unwrap_err();
        let file = dir.path().join("ml-10M100K/ratings.dat");
        assert_eq!(err.to_string(), format!(r#"{}:2: field `rating`: "x" is not a number"#, file.display()));
        let err = load_movies(dir.path(), DatasetName::Ml10m).unwrap_err();
        assert!(err.to_string().contains("movies.dat"), "{err}");
    }
}
