//! `cinerec-import movies`: reads a dataset's movies (`movies.csv`, `movies.dat` or `u.item`,
//! through the `datasets` crate's parsers) and, where present, `links.csv` (IMDb and TMDb ids),
//! and upserts them in batches. Idempotent: rows whose fields are unchanged are not touched and
//! produce no event, so a second run changes nothing.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use datasets::DatasetName;
use datasets::csv::CsvRecord;

use movies::domain::{FieldError, MovieFields, MovieId, title_without_year};
use movies::store::{MovieStore, StoreError, UpsertCounts};

/// Movies per upsert statement (and transaction).
pub const IMPORT_BATCH: usize = 1000;

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The dataset could not be read or parsed (names the file, line and field).
    #[error(transparent)]
    Dataset(#[from] datasets::DatasetError),
    /// `links.csv` could not be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A line of `links.csv` is malformed.
    #[error("{file}:{line}: {reason}")]
    Links {
        /// The file.
        file: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// A movie of the dataset breaks the catalogue's rules (e.g. an unknown genre).
    #[error("{file}: movie {movie_id}: {problem}")]
    Invalid {
        /// The movies file.
        file: PathBuf,
        /// The MovieLens id.
        movie_id: u64,
        /// The rule.
        problem: FieldError,
    },
    /// Writing to the database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blocking reader task failed.
    #[error("reading the dataset: {0}")]
    Join(String),
}

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Movies read from the dataset.
    pub read: usize,
    /// Of those, movies with an IMDb or TMDb link.
    pub linked: usize,
    /// What the upserts did.
    pub counts: UpsertCounts,
}

/// External ids from `links.csv`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Links {
    imdb_id: String,
    tmdb_id: u64,
}

/// Reads `dataset` from `data_dir` into validated catalogue rows (blocking file I/O).
pub fn read_movies(
    data_dir: &Path,
    dataset: DatasetName,
) -> Result<Vec<(MovieId, MovieFields)>, ImportError> {
    let dir = datasets::dataset_dir(data_dir, dataset)?;
    let movies_file = dir.join(dataset.info().movies_file);
    let movies = datasets::load_movies(data_dir, dataset)?;
    let links_file = dir.join("links.csv");
    let links = if links_file.is_file() { read_links(&links_file)? } else { HashMap::new() };
    movies
        .into_iter()
        .map(|movie| {
            let invalid = |problem| ImportError::Invalid {
                file: movies_file.clone(),
                movie_id: movie.movie_id,
                problem,
            };
            let id = MovieId::parse(movie.movie_id, "movie_id").map_err(invalid)?;
            let link = links.get(&movie.movie_id).cloned().unwrap_or_default();
            let fields = MovieFields::parse(
                title_without_year(&movie.title),
                movie.year.map_or(0, i32::from),
                &movie.genres,
                &link.imdb_id,
                link.tmdb_id,
            )
            .map_err(invalid)?;
            Ok((id, fields))
        })
        .collect()
}

/// `movieId,imdbId,tmdbId` → ids; IMDb ids get their `tt` prefix back, empty TMDb ids are 0.
fn read_links(path: &Path) -> Result<HashMap<u64, Links>, ImportError> {
    let reader = std::io::BufReader::new(fs_err::File::open(path)?);
    let mut res = HashMap::new();
    let mut record = CsvRecord::new();
    for (n, line) in reader.lines().enumerate() {
        let line_no = n as u64 + 1;
        let line = line?;
        let bad = |reason: String| ImportError::Links { file: path.to_owned(), line: line_no, reason };
        let line = line.trim_end_matches('\r');
        if line_no == 1 {
            if line != "movieId,imdbId,tmdbId" {
                return Err(bad(format!("expected the header movieId,imdbId,tmdbId, found {line:?}")));
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        record.parse(line).map_err(|e| bad(e.to_string()))?;
        if record.len() != 3 {
            return Err(bad(format!("expected 3 fields, found {}", record.len())));
        }
        let field = |i| record.get(i).unwrap_or_default().trim();
        let movie_id: u64 =
            field(0).parse().map_err(|_| bad(format!("movieId {:?} is not a number", field(0))))?;
        let imdb_id = match field(1) {
            "" => String::new(),
            digits if digits.bytes().all(|b| b.is_ascii_digit()) => format!("tt{digits}"),
            other => return Err(bad(format!("imdbId {other:?} is not a number"))),
        };
        let tmdb_id = match field(2) {
            "" => 0,
            digits => digits.parse().map_err(|_| bad(format!("tmdbId {digits:?} is not a number")))?,
        };
        res.insert(movie_id, Links { imdb_id, tmdb_id });
    }
    Ok(res)
}

/// Imports `dataset` from `data_dir` into `store` in batches of [`IMPORT_BATCH`].
pub async fn import_movies<S: MovieStore>(
    store: &S,
    data_dir: &Path,
    dataset: DatasetName,
) -> Result<ImportReport, ImportError> {
    let dir = data_dir.to_owned();
    let movies = tokio::task::spawn_blocking(move || read_movies(&dir, dataset))
        .await
        .map_err(|e| ImportError::Join(e.to_string()))??;
    let mut report = ImportReport {
        read: movies.len(),
        linked: movies.iter().filter(|(_, f)| f.imdb_id.is_some() || f.tmdb_id.is_some()).count(),
        counts: UpsertCounts::default(),
    };
    for batch in movies.chunks(IMPORT_BATCH) {
        report.counts += store.upsert_many(batch).await?;
    }
    tracing::info!(
        %dataset,
        read = report.read,
        inserted = report.counts.inserted,
        updated = report.counts.updated,
        unchanged = report.counts.unchanged,
        "imported movies"
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(text: &str) -> Result<HashMap<u64, Links>, ImportError> {
        let dir = tempdir();
        let path = dir.join("links.csv");
        fs_err::write(&path, text).unwrap();
        let res = read_links(&path);
        fs_err::remove_dir_all(&dir).unwrap();
        res
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("movies-links-{}", uuid::Uuid::new_v4()));
        fs_err::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn links_get_their_prefix_and_may_lack_tmdb() {
        let parsed = links("movieId,imdbId,tmdbId\r\n1,0114709,862\r\n791,0113610,\n").unwrap();
        assert_eq!(parsed[&1], Links { imdb_id: "tt0114709".into(), tmdb_id: 862 });
        assert_eq!(parsed[&791], Links { imdb_id: "tt0113610".into(), tmdb_id: 0 });
    }

    #[test]
    fn bad_links_name_the_line() {
        let err = links("movieId,imdbId,tmdbId\n1,0114709,862\n2,x,3\n").unwrap_err();
        assert!(err.to_string().contains("links.csv:3: imdbId \"x\""), "{err}");
        let err = links("id,imdb\n").unwrap_err();
        assert!(err.to_string().contains(":1: expected the header"), "{err}");
    }

    #[test]
    fn real_datasets_read_into_valid_rows() {
        let data_dir = datasets::checkout_data_dir();
        let small = read_movies(&data_dir, DatasetName::MlLatestSmall).unwrap();
        assert_eq!(small.len(), 9742);
        let (id, toy) = &small[0];
        assert_eq!(id.get(), 1);
        assert_eq!(toy.title, "Toy Story");
        assert_eq!(toy.year, Some(1995));
        assert_eq!(toy.genres, ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]);
        assert_eq!((toy.imdb_id.as_deref(), toy.tmdb_id), (Some("tt0114709"), Some(862)));
        let ml100k = read_movies(&data_dir, DatasetName::Ml100k).unwrap();
        assert_eq!(ml100k.len(), 1682);
        assert_eq!(ml100k[0].1.title, "Toy Story");
        assert!(ml100k[0].1.genres.contains(&"Children".to_string()));
    }
}
