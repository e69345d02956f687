//! [`MovieStore`] over PostgreSQL with `sqlx` (runtime queries, no compile-time macros), and the
//! embedded migrations (`services/movies/migrations`). Transient failures (connection refused
//! or lost, server shutting down, serialization conflicts) are retried with backoff a bounded
//! number of times; the pool itself waits at most `acquire_timeout` for a connection.

use std::str::FromStr;
use std::time::Duration;

use proto::events::v1::MovieChange;
use service_common::{Backoff, retry};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, SqlStr, Transaction};

use crate::config::Secret;
use crate::domain::{ListQuery, MediaKind, MediaObject, Movie, MovieFields, MovieId, SearchQuery};
use crate::outbox::encode_event;
use crate::store::{MovieStore, OutboxEvent, Page, StoreError, UpsertCounts};

/// The schema, applied in order by [`PgMovieStore::migrate`].
fn migrator() -> Migrator {
    Migrator::with_migrations(vec![Migration::new(
        1,
        "movies".into(),
        MigrationType::Simple,
        SqlStr::from_static(include_str!("../migrations/0001_movies.sql")),
        false,
    )])
}

/// How to reach the database.
#[derive(Clone, Debug)]
pub struct PgSettings {
    /// `postgres://user[:password]@host:port/database` (never logged).
    pub url: Secret,
    /// Pool size.
    pub max_connections: u32,
    /// How long a query waits for a connection (the pool keeps reconnecting meanwhile).
    pub acquire_timeout: Duration,
    /// Retries of transient errors around each operation.
    pub backoff: Backoff,
}

impl PgSettings {
    /// `url` with 10 connections, a 3 s acquire timeout and 3 attempts per operation.
    pub fn new(url: Secret) -> Self {
        Self {
            url,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            backoff: Backoff {
                initial: Duration::from_millis(100),
                max: Duration::from_secs(1),
                attempts: 3,
            },
        }
    }
}

/// The catalogue in PostgreSQL.
#[derive(Clone, Debug)]
pub struct PgMovieStore {
    pool: PgPool,
    backoff: Backoff,
}

impl PgMovieStore {
    /// Connects, waiting (with retries) for the server, and applies the migrations.
    pub async fn connect(settings: &PgSettings) -> Result<Self, StoreError> {
        let store = Self::connect_lazy(settings)?;
        store.migrate().await?;
        Ok(store)
    }

    /// A store that connects on first use (nothing is contacted here; migrations not applied).
    pub fn connect_lazy(settings: &PgSettings) -> Result<Self, StoreError> {
        let options =
            PgConnectOptions::from_str(settings.url.expose()).map_err(|e| StoreError::InvalidUrl {
                reason: match e {
                    sqlx::Error::Configuration(inner) => inner.to_string(),
                    other => other.to_string(),
                },
            })?;
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            .connect_lazy_with(options);
        Ok(Self { pool, backoff: settings.backoff })
    }

    /// Applies the embedded migrations not yet applied (under PostgreSQL's advisory lock, so
    /// concurrent replicas do not race).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = migrator();
        retry(&self.backoff, "migrating the movies database", is_transient_migrate, || {
            migrator.run(&self.pool)
        })
        .await?;
        Ok(())
    }

    /// The pool (for tests and administration).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `operation` with the store's retry policy and classifies its error.
    async fn run<T, Fut>(&self, what: &'static str, operation: impl FnMut() -> Fut) -> Result<T, StoreError>
    where
        Fut: Future<Output = Result<T, Failure>>,
    {
        retry(&self.backoff, what, Failure::is_transient, operation).await.map_err(|failure| match failure {
            Failure::Store(err) => err,
            Failure::Sql(err) if is_unavailable(&err) => {
                StoreError::Unavailable { operation: what, source: err }
            }
            Failure::Sql(err) => StoreError::Database { operation: what, source: err },
        })
    }
}

/// An operation's error before classification: a domain outcome or a database error.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

impl Failure {
    fn is_transient(&self) -> bool {
        matches!(self, Failure::Sql(err) if is_transient(err))
    }
}

/// Worth another attempt: the connection failed or the server asked us to retry. The pool has
/// already waited `acquire_timeout` before a `PoolTimedOut`, so that one is not retried.
fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            code.starts_with("08") // connection exception
                || code.starts_with("57P") // admin/crash shutdown, cannot connect now
                || matches!(&*code, "40001" | "40P01" | "53300")
        }
        _ => false,
    }
}

/// The database is out of reach (as opposed to refusing a statement).
fn is_unavailable(err: &sqlx::Error) -> bool {
    is_transient(err) || matches!(err, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed)
}

fn is_transient_migrate(err: &sqlx::migrate::MigrateError) -> bool {
    matches!(err, sqlx::migrate::MigrateError::Execute(e) if is_transient(e))
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A movie id column (the table's CHECK keeps it positive; anything else is a decode error).
fn movie_id(id: i64) -> Result<MovieId, sqlx::Error> {
    MovieId::from_i64(id).ok_or_else(|| sqlx::Error::Decode(format!("movie id {id} is not positive").into()))
}

fn movie_from_row(row: &PgRow) -> Result<Movie, sqlx::Error> {
    let media = |key: &str, content_type: &str| -> Result<Option<MediaObject>, sqlx::Error> {
        let key: Option<String> = row.try_get(key)?;
        let content_type: Option<String> = row.try_get(content_type)?;
        Ok(key.map(|key| MediaObject { key, content_type: content_type.unwrap_or_default() }))
    };
    Ok(Movie {
        id: movie_id(row.try_get("id")?)?,
        fields: MovieFields {
            title: row.try_get("title")?,
            year: row.try_get("year")?,
            genres: row.try_get("genres")?,
            imdb_id: row.try_get("imdb_id")?,
            tmdb_id: row.try_get("tmdb_id")?,
        },
        poster: media("poster_key", "poster_content_type")?,
        trailer: media("trailer_key", "trailer_content_type")?,
    })
}

async fn push_event(
    tx: &mut Transaction<'_, Postgres>,
    id: MovieId,
    change: MovieChange,
    fields: Option<&MovieFields>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO movie_events_outbox (movie_id, payload) VALUES ($1, $2)")
        .bind(id.as_i64())
        .bind(encode_event(id, change, fields))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

const INSERT_WITH_ID: &str = "INSERT INTO movies (id, title, year, genres, imdb_id, tmdb_id) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     RETURNING id, title, year, genres, imdb_id, tmdb_id, poster_key, poster_content_type, trailer_key, trailer_content_type";

// New ids come after the largest one, under a transaction-scoped advisory lock so that
// concurrent creates without an id do not pick the same one.
const INSERT_NEXT_ID: &str = "INSERT INTO movies (id, title, year, genres, imdb_id, tmdb_id) \
     VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM movies), $1, $2, $3, $4, $5) \
     RETURNING id, title, year, genres, imdb_id, tmdb_id, poster_key, poster_content_type, trailer_key, trailer_content_type";

const NEXT_ID_LOCK: i64 = 0x6369_6e65_6d6f_7669; // "cinemovi"

/// Readiness: PostgreSQL answers `SELECT 1` now (one round trip, no retry).
impl service_common::ReadinessProbe for PgMovieStore {
    async fn is_ready(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

impl MovieStore for PgMovieStore {
    async fn create(&self, id: Option<MovieId>, fields: &MovieFields) -> Result<Movie, StoreError> {
        self.run("creating a movie", || async {
            let mut tx = self.pool.begin().await?;
            let row = match id {
                Some(id) => sqlx::query(INSERT_WITH_ID).bind(id.as_i64()),
                None => {
                    sqlx::query("SELECT pg_advisory_xact_lock($1)")
                        .bind(NEXT_ID_LOCK)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(INSERT_NEXT_ID)
                }
            }
            .bind(&fields.title)
            .bind(fields.year)
            .bind(&fields.genres)
            .bind(&fields.imdb_id)
            .bind(fields.tmdb_id)
            .fetch_one(&mut *tx)
            .await;
            let row = match (row, id) {
                (Err(err), Some(id)) if is_unique_violation(&err) => {
                    return Err(Failure::Store(StoreError::AlreadyExists { id }));
                }
                (row, _) => row?,
            };
            let movie = movie_from_row(&row)?;
            push_event(&mut tx, movie.id, MovieChange::Created, Some(&movie.fields)).await?;
            tx.commit().await?;
            Ok(movie)
        })
        .await
    }

    async fn get(&self, id: MovieId) -> Result<Movie, StoreError> {
        self.run("reading a movie", || async {
            const SQL: &str = "SELECT id, title, year, genres, imdb_id, tmdb_id, poster_key, poster_content_type, \
                 trailer_key, trailer_content_type FROM movies WHERE id = $1";
            let row = sqlx::query(SQL).bind(id.as_i64()).fetch_optional(&self.pool).await?;
            match row {
                Some(row) => Ok(movie_from_row(&row)?),
                None => Err(Failure::Store(StoreError::NotFound { id })),
            }
        })
        .await
    }

    async fn update(&self, id: MovieId, fields: &MovieFields) -> Result<Movie, StoreError> {
        self.run("updating a movie", || async {
            const SQL: &str = "UPDATE movies SET title = $2, year = $3, genres = $4, imdb_id = $5, tmdb_id = $6, \
                 updated_at = now() WHERE id = $1 \
                 RETURNING id, title, year, genres, imdb_id, tmdb_id, poster_key, poster_content_type, \
                 trailer_key, trailer_content_type";
            let mut tx = self.pool.begin().await?;
            let row = sqlx::query(SQL)
                .bind(id.as_i64())
                .bind(&fields.title)
                .bind(fields.year)
                .bind(&fields.genres)
                .bind(&fields.imdb_id)
                .bind(fields.tmdb_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else { return Err(Failure::Store(StoreError::NotFound { id })) };
            let movie = movie_from_row(&row)?;
            push_event(&mut tx, id, MovieChange::Updated, Some(&movie.fields)).await?;
            tx.commit().await?;
            Ok(movie)
        })
        .await
    }

    async fn delete(&self, id: MovieId) -> Result<Movie, StoreError> {
        self.run("deleting a movie", || async {
            const SQL: &str = "DELETE FROM movies WHERE id = $1 \
                 RETURNING id, title, year, genres, imdb_id, tmdb_id, poster_key, poster_content_type, \
                 trailer_key, trailer_content_type";
            let mut tx = self.pool.begin().await?;
            let row = sqlx::query(SQL).bind(id.as_i64()).fetch_optional(&mut *tx).await?;
            let Some(row) = row else { return Err(Failure::Store(StoreError::NotFound { id })) };
            let movie = movie_from_row(&row)?;
            push_event(&mut tx, id, MovieChange::Deleted, None).await?;
            tx.commit().await?;
            Ok(movie)
        })
        .await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        self.run("listing movies", || async {
            const SQL: &str = "SELECT id, title, year, genres, imdb_id, tmdb_id, poster_key, poster_content_type, \
                 trailer_key, trailer_content_type FROM movies \
                 WHERE id > $1 \
                   AND ($2::text IS NULL OR genres @> ARRAY[$2::text]) \
                   AND ($3::int IS NULL OR year >= $3) \
                   AND ($4::int IS NULL OR year <= $4) \
                 ORDER BY id LIMIT $5";
            let rows = sqlx::query(SQL)
                .bind(query.after.map_or(0, MovieId::as_i64))
                .bind(query.genre)
                .bind(query.year_from)
                .bind(query.year_to)
                .bind(i64::from(query.limit) + 1)
                .fetch_all(&self.pool)
                .await?;
            let more = rows.len() > query.limit as usize;
            let movies =
                rows.iter().take(query.limit as usize).map(movie_from_row).collect::<Result<Vec<_>, _>>()?;
            Ok(Page { movies, more })
        })
        .await
    }

    async fn search(&self, query: &SearchQuery) -> Result<Vec<Movie>, StoreError> {
        self.run("searching movies", || async {
            // Full-text matches (English stemming) first, then trigram-similar titles (typos,
            // partial words); within each, the closest title, then the full-text rank.
            const SQL: &str = "SELECT id, title, year, genres, imdb_id, tmdb_id, poster_key, poster_content_type, \
                 trailer_key, trailer_content_type \
                 FROM movies, websearch_to_tsquery('english', $1) AS q \
                 WHERE search @@ q OR title % $1 \
                 ORDER BY (search @@ q) DESC, similarity(title, $1) DESC, ts_rank(search, q) DESC, id \
                 LIMIT $2";
            let rows =
                sqlx::query(SQL).bind(&query.text).bind(i64::from(query.limit)).fetch_all(&self.pool).await?;
            Ok(rows.iter().map(movie_from_row).collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn set_media(
        &self,
        id: MovieId,
        kind: MediaKind,
        object: &MediaObject,
    ) -> Result<(Movie, Option<MediaObject>), StoreError> {
        self.run("recording a media upload", || async {
            let (select, update) = match kind {
                MediaKind::Poster => (
                    "SELECT poster_key AS key, poster_content_type AS content_type FROM movies WHERE id = $1 FOR UPDATE",
                    "UPDATE movies SET poster_key = $2, poster_content_type = $3, updated_at = now() WHERE id = $1 \
                     RETURNING id, title, year, genres, imdb_id, tmdb_id, poster_key, poster_content_type, \
                     trailer_key, trailer_content_type",
                ),
                MediaKind::Trailer => (
                    "SELECT trailer_key AS key, trailer_content_type AS content_type FROM movies WHERE id = $1 FOR UPDATE",
                    "UPDATE movies SET trailer_key = $2, trailer_content_type = $3, updated_at = now() WHERE id = $1 \
                     RETURNING id, title, year, genres, imdb_id, tmdb_id, poster_key, poster_content_type, \
                     trailer_key, trailer_content_type",
                ),
            };
            let mut tx = self.pool.begin().await?;
            let Some(before) = sqlx::query(select).bind(id.as_i64()).fetch_optional(&mut *tx).await? else {
                return Err(Failure::Store(StoreError::NotFound { id }));
            };
            let key: Option<String> = before.try_get("key")?;
            let content_type: Option<String> = before.try_get("content_type")?;
            let previous = key.map(|key| MediaObject { key, content_type: content_type.unwrap_or_default() });
            let row = sqlx::query(update)
                .bind(id.as_i64())
                .bind(&object.key)
                .bind(&object.content_type)
                .fetch_one(&mut *tx)
                .await?;
            let movie = movie_from_row(&row)?;
            push_event(&mut tx, id, MovieChange::Updated, Some(&movie.fields)).await?;
            tx.commit().await?;
            Ok((movie, previous))
        })
        .await
    }

    async fn upsert_many(&self, movies: &[(MovieId, MovieFields)]) -> Result<UpsertCounts, StoreError> {
        // Genres travel as `|`-joined text because PostgreSQL arrays of arrays must be
        // rectangular; `string_to_array('', '|')` is the empty array.
        const SQL: &str = "INSERT INTO movies AS m (id, title, year, genres, imdb_id, tmdb_id) \
             SELECT id, title, year, string_to_array(genres, '|'), imdb_id, tmdb_id \
             FROM UNNEST($1::bigint[], $2::text[], $3::int[], $4::text[], $5::text[], $6::bigint[]) \
                  AS t(id, title, year, genres, imdb_id, tmdb_id) \
             ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, year = EXCLUDED.year, \
                 genres = EXCLUDED.genres, imdb_id = EXCLUDED.imdb_id, tmdb_id = EXCLUDED.tmdb_id, \
                 updated_at = now() \
             WHERE (m.title, m.year, m.genres, m.imdb_id, m.tmdb_id) IS DISTINCT FROM \
                   (EXCLUDED.title, EXCLUDED.year, EXCLUDED.genres, EXCLUDED.imdb_id, EXCLUDED.tmdb_id) \
             RETURNING id, title, (xmax = 0) AS inserted";
        const EVENTS: &str = "INSERT INTO movie_events_outbox (movie_id, payload) \
             SELECT * FROM UNNEST($1::bigint[], $2::bytea[])";
        let ids: Vec<i64> = movies.iter().map(|(id, _)| id.as_i64()).collect();
        let titles: Vec<&str> = movies.iter().map(|(_, f)| f.title.as_str()).collect();
        let years: Vec<Option<i32>> = movies.iter().map(|(_, f)| f.year).collect();
        let genres: Vec<String> = movies.iter().map(|(_, f)| f.genres.join("|")).collect();
        let imdb: Vec<Option<&str>> = movies.iter().map(|(_, f)| f.imdb_id.as_deref()).collect();
        let tmdb: Vec<Option<i64>> = movies.iter().map(|(_, f)| f.tmdb_id).collect();
        self.run("importing movies", || async {
            let mut tx = self.pool.begin().await?;
            let rows = sqlx::query(SQL)
                .bind(&ids)
                .bind(&titles)
                .bind(&years)
                .bind(&genres)
                .bind(&imdb)
                .bind(&tmdb)
                .fetch_all(&mut *tx)
                .await?;
            let mut counts = UpsertCounts::default();
            let by_id: std::collections::HashMap<i64, &MovieFields> =
                movies.iter().map(|(id, fields)| (id.as_i64(), fields)).collect();
            let mut event_ids = Vec::with_capacity(rows.len());
            let mut payloads = Vec::with_capacity(rows.len());
            for row in &rows {
                let id = movie_id(row.try_get("id")?)?;
                let fields = by_id.get(&id.as_i64()).copied();
                let change = if row.try_get("inserted")? {
                    counts.inserted += 1;
                    MovieChange::Created
                } else {
                    counts.updated += 1;
                    MovieChange::Updated
                };
                event_ids.push(id.as_i64());
                payloads.push(encode_event(id, change, fields));
            }
            counts.unchanged = movies.len() - rows.len();
            if !event_ids.is_empty() {
                sqlx::query(EVENTS).bind(&event_ids).bind(&payloads).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(counts)
        })
        .await
    }

    async fn pending_events(&self, limit: u32) -> Result<Vec<OutboxEvent>, StoreError> {
        self.run("reading the event outbox", || async {
            let rows =
                sqlx::query("SELECT seq, movie_id, payload FROM movie_events_outbox ORDER BY seq LIMIT $1")
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
            let events = rows
                .iter()
                .map(|row| {
                    Ok(OutboxEvent {
                        seq: row.try_get("seq")?,
                        movie_id: movie_id(row.try_get("movie_id")?)?,
                        payload: row.try_get("payload")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            Ok(events)
        })
        .await
    }

    async fn remove_events(&self, seqs: &[i64]) -> Result<(), StoreError> {
        self.run("removing published events", || async {
            sqlx::query("DELETE FROM movie_events_outbox WHERE seq = ANY($1)")
                .bind(seqs)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_are_connection_problems() {
        assert!(is_transient(&sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into())));
        assert!(!is_transient(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
    }

    #[test]
    fn a_bad_url_is_refused_without_repeating_it() {
        let err =
            PgMovieStore::connect_lazy(&PgSettings::new(Secret::new("postgres://u:hunter2@h:notaport/db")))
                .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
