//! The Oracle Database warehouse ([`OracleWarehouse`], behind feature `oracle`): Oracle's
//! pure-Rust thin driver (`oracledb`, no Oracle client library), whose blocking calls run in
//! `spawn_blocking`, and the schema in `migrations/oracle/` applied by a small runner.
//!
//! A batch is one transaction with the semantics of the PostgreSQL adapter: each fact is a
//! `MERGE INTO … USING (SELECT :1 … FROM dual) … WHEN NOT MATCHED THEN INSERT` executed once
//! for all rows (one round trip), stored and duplicates counted from the rows it affected; the
//! impressions and roll-ups of the lists that were new only; dimensions merged when the event
//! is newer than the row. Where the adapter must know *which* rows a merge changed (new facts,
//! the shown items and positives new to the feedback roll-ups, changed movies), the `MERGE` runs
//! in a PL/SQL block that returns `SQL%ROWCOUNT` for each row, the driver having only a batch
//! total. Keys are sorted before merging so that concurrent transactions lock rows in one
//! order, and events repeated within a batch are merged once.
//!
//! Where PostgreSQL's `ON CONFLICT` waits for a concurrent transaction inserting the same key and
//! then skips the row, Oracle's `MERGE` fails with ORA-00001 once that transaction commits: the
//! batch is then rolled back and tried again (the retry finds the row and skips it).
//!
//! Oracle stores `''` as NULL: empty texts come back from reports as NULL (which the reports
//! read as empty text), and the schema's notes say which columns are nullable for that reason.

use std::collections::BTreeMap;
use std::sync::Arc;

use oracledb::{Config, Connection, OracleNumber, Pool, PoolConfig, ToDbValue};

use crate::facts::{Batch, latest_per_key};
use crate::rollup::{ListRollups, NewEvents};
use crate::{Dialect, IngestCounts, Row, Value, Warehouse, WarehouseError, day_of_ms, hour_of_ms};

/// The migrations: version, name and SQL, in order.
const MIGRATIONS: [(i64, &str, &str); 1] =
    [(1, "schema", include_str!("../migrations/oracle/0001_schema.sql"))];

/// How many times a batch is tried again after ORA-00001 (a concurrent transaction stored one
/// of its keys first).
const CONFLICT_RETRIES: u32 = 2;

/// ORA-00001: unique constraint violated.
const UNIQUE_VIOLATED: usize = 1;

/// The Oracle Database warehouse.
#[derive(Clone)]
pub struct OracleWarehouse {
    pool: Arc<Pool>,
}

impl std::fmt::Debug for OracleWarehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OracleWarehouse").finish_non_exhaustive()
    }
}

impl OracleWarehouse {
    /// Connects to `url` (`oracle://user:password@host:port/service_name`; user and password
    /// percent-encoded where needed) with a pool of up to `max_connections`, and applies the
    /// migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, WarehouseError> {
        let (config, pool_config) = configs(url, max_connections)?;
        install_ring_provider();
        blocking("connecting", move || {
            migrate(&config)?;
            let pool = oracledb::create_pool(pool_config).map_err(unavailable("connecting"))?;
            Ok(Self { pool: Arc::new(pool) })
        })
        .await
    }

    /// The connection pool (tests inspect tables with it).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

impl Warehouse for OracleWarehouse {
    fn dialect(&self) -> Dialect {
        Dialect::Oracle
    }

    async fn ingest(&self, batch: &Batch, received_at_ms: i64) -> Result<IngestCounts, WarehouseError> {
        if batch.is_empty() {
            return Ok(IngestCounts::default());
        }
        let (pool, batch) = (Arc::clone(&self.pool), batch.clone());
        blocking("storing a batch", move || {
            let mut attempt = 0;
            loop {
                let conn = pool.acquire().map_err(unavailable("connecting"))?;
                let res = ingest(&conn, &batch, received_at_ms);
                if res.is_err() {
                    // Also ends the transaction of a failed commit; the connection goes back clean.
                    let _ = conn.rollback();
                }
                match res {
                    Err(failed) if failed.is_unique_violation() && attempt < CONFLICT_RETRIES => {
                        attempt += 1;
                        tracing::debug!(
                            attempt,
                            what = failed.what,
                            "a concurrent batch stored a key first: retrying"
                        );
                    }
                    res => return res.map_err(Failed::into_error),
                }
            }
        })
        .await
    }

    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, WarehouseError> {
        let (pool, sql, params) = (Arc::clone(&self.pool), Dialect::Oracle.render(sql), params.to_vec());
        blocking("running a report", move || {
            let conn = pool.acquire().map_err(unavailable("connecting"))?;
            let binds: Vec<&dyn ToDbValue> = params.iter().map(bind_value).collect();
            let cursor = conn.query(&sql, &binds).map_err(unavailable("running a report"))?;
            cursor.map(|row| decode_row(&row.map_err(unavailable("running a report"))?)).collect()
        })
        .await
    }

    async fn ping(&self) -> bool {
        let pool = Arc::clone(&self.pool);
        blocking("pinging", move || {
            let conn = pool.acquire().map_err(unavailable("pinging"))?;
            conn.query_row("SELECT 1 FROM dual", &[]).map_err(unavailable("pinging"))
        })
        .await
        .is_ok()
    }
}

/// Runs blocking driver calls off the async runtime.
async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, WarehouseError> + Send + 'static,
) -> Result<T, WarehouseError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| WarehouseError::Unavailable { what, reason: format!("the blocking task failed: {e}") })?
}

fn unavailable(what: &'static str) -> impl Fn(oracledb::Error) -> WarehouseError {
    move |e| WarehouseError::Unavailable { what, reason: e.to_string() }
}

/// The driver's rustls is built with its default provider (aws-lc-rs) and, through this crate,
/// ring: with two, rustls picks none by itself and a TLS (`tcps`) connection would panic. Ring
/// is the workspace's provider; a provider the process installed before is kept.
fn install_ring_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The standalone connection settings (migrations) and the pool settings for `url`. Errors
/// never repeat the URL or the password.
fn configs(url: &str, max_connections: u32) -> Result<(Config, PoolConfig), WarehouseError> {
    const FORM: &str = "expected oracle://user:password@host:port/service_name";
    let invalid = |why: &str| WarehouseError::InvalidUrl(format!("{why} ({FORM})"));
    let rest = url.strip_prefix("oracle://").ok_or_else(|| invalid("not an oracle:// URL"))?;
    // The address has no `@`; an unencoded one in the password stays in the user part.
    let (credentials, address) = rest.rsplit_once('@').ok_or_else(|| invalid("no user and password"))?;
    let (user, password) = credentials.split_once(':').ok_or_else(|| invalid("no password"))?;
    let user = percent_decode(user).ok_or_else(|| invalid("the user is not valid percent-encoded UTF-8"))?;
    let password =
        percent_decode(password).ok_or_else(|| invalid("the password is not valid percent-encoded UTF-8"))?;
    if user.is_empty() {
        return Err(invalid("no user"));
    }
    match address.split_once('/') {
        Some((host, service)) if !host.is_empty() && !service.is_empty() => {}
        _ => return Err(invalid("no host or service name")),
    }
    let config = Config::default()
        .set_credentials(&user, &password)
        .set_connect_string(address)
        .map_err(|e| WarehouseError::InvalidUrl(format!("the address is not an easy connect string: {e}")))?;
    let pool_config = PoolConfig::default()
        .set_credentials(&user, &password)
        .set_connect_string(address)
        .map_err(|e| WarehouseError::InvalidUrl(format!("the address is not an easy connect string: {e}")))?
        .set_min_connections(1)
        .set_max_connections(max_connections.max(1) as usize)
        .set_connection_increment(1);
    Ok((config, pool_config))
}

/// `%XX` escapes decoded; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The statements of a migration file: separated by a line holding only `/`, each sent as
/// written (SQL without a trailing `;`, PL/SQL blocks ending in `END;`), full-line `--` comments
/// dropped and empty statements skipped.
fn statements(sql: &str) -> Vec<String> {
    let mut res = Vec::new();
    let mut current = String::new();
    for line in sql.lines().chain(["/"]) {
        if line.trim() == "/" {
            let statement = current.trim();
            if !statement.is_empty() {
                res.push(statement.to_owned());
            }
            current.clear();
        } else if !line.trim_start().starts_with("--") {
            current.push_str(line);
            current.push('\n');
        }
    }
    res
}

/// Creates `schema_migrations` unless it exists (ORA-00955: name already used).
const MIGRATIONS_TABLE: &str = "BEGIN
  EXECUTE IMMEDIATE 'CREATE TABLE schema_migrations (version NUMBER(19) NOT NULL, name VARCHAR2(200 CHAR) NOT NULL, '
    || 'CONSTRAINT schema_migrations_pk PRIMARY KEY (version))';
EXCEPTION
  WHEN OTHERS THEN
    IF SQLCODE != -955 THEN
      RAISE;
    END IF;
END;";

/// Applies the migrations not yet recorded in `schema_migrations`, each once. Two sessions: one
/// holds `LOCK TABLE schema_migrations IN EXCLUSIVE MODE` while the other runs a file (DDL
/// commits the session that runs it, so the lock must live in another), so concurrent starts
/// apply each file once. A file's DML is committed with it and its version is recorded after
/// it succeeded; a file that fails half-way leaves its earlier DDL in place (Oracle cannot roll
/// DDL back) and is not recorded.
fn migrate(config: &Config) -> Result<(), WarehouseError> {
    let failed = |what: String| {
        move |e: oracledb::Error| WarehouseError::Unavailable {
            what: "migrating",
            reason: format!("{what}: {e}"),
        }
    };
    let work = oracledb::connect(config.clone()).map_err(unavailable("connecting"))?;
    let lock = oracledb::connect(config.clone()).map_err(unavailable("connecting"))?;
    work.execute(MIGRATIONS_TABLE, &[]).map_err(failed("creating schema_migrations".into()))?;
    for (version, name, sql) in MIGRATIONS {
        let locking = failed(format!("locking schema_migrations for migration {version}"));
        lock.execute("LOCK TABLE schema_migrations IN EXCLUSIVE MODE", &[]).map_err(&locking)?;
        let applied: i64 = lock
            .query_row("SELECT COUNT(*) FROM schema_migrations WHERE version = :1", &[&version])
            .and_then(|row| row.get(0))
            .map_err(&locking)?;
        if applied == 0 {
            for (i, statement) in statements(sql).iter().enumerate() {
                let what = format!("migration {version} ({name}), statement {}", i + 1);
                work.execute(statement, &[]).map_err(failed(what))?;
            }
            work.commit().map_err(failed(format!("committing migration {version}")))?;
            lock.execute("INSERT INTO schema_migrations (version, name) VALUES (:1, :2)", &[&version, &name])
                .map_err(failed(format!("recording migration {version}")))?;
        }
        // Ends the transaction, and with it the lock.
        lock.commit().map_err(failed(format!("recording migration {version}")))?;
    }
    Ok(())
}

/// A query parameter as a driver bind (NULL is bound as a NULL number).
fn bind_value(value: &Value) -> &dyn ToDbValue {
    const NULL: Option<i64> = None;
    match value {
        Value::Null => &NULL,
        Value::Int(v) => v,
        Value::Float(v) => v,
        Value::Text(v) => v,
    }
}

fn decode_row(row: &oracledb::Row) -> Result<Row, WarehouseError> {
    let corrupt = |reason: String| WarehouseError::Corrupt { what: "decoding a report row", reason };
    row.columns()
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let kind = column.db_type();
            let value = if kind == oracledb::DB_TYPE_NUMBER || kind == oracledb::DB_TYPE_BINARY_INTEGER {
                row.get::<Option<OracleNumber>>(i).map(|v| v.map(|n| number(&n.to_string())))
            } else if kind == oracledb::DB_TYPE_BINARY_DOUBLE {
                row.get::<Option<f64>>(i).map(|v| v.map(|f| Some(Value::Float(f))))
            } else if kind == oracledb::DB_TYPE_BINARY_FLOAT {
                row.get::<Option<f32>>(i).map(|v| v.map(|f| Some(Value::Float(f64::from(f)))))
            } else if kind.is_string_type() {
                // VARCHAR2, CHAR and their N forms, and CLOB (fetched as text, not as a locator).
                row.get::<Option<String>>(i).map(|v| v.map(|t| Some(Value::Text(t))))
            } else if kind == oracledb::DB_TYPE_BOOLEAN {
                row.get::<Option<bool>>(i).map(|v| v.map(|b| Some(Value::Int(i64::from(b)))))
            } else {
                return Err(corrupt(format!(
                    "column `{}` is {}: cast it to NUMBER, BINARY_DOUBLE or VARCHAR2",
                    column.name(),
                    column.data_type()
                )));
            };
            match value {
                Ok(None) => Ok(Value::Null),
                Ok(Some(Some(v))) => Ok(v),
                Ok(Some(None)) => {
                    Err(corrupt(format!("column `{}` holds a NUMBER out of range", column.name())))
                }
                Err(e) => Err(corrupt(format!("column `{}`: {e}", column.name()))),
            }
        })
        .collect()
}

/// A NUMBER's decimal text as an integer when it has no fraction and fits, else a float.
fn number(text: &str) -> Option<Value> {
    match text.parse::<i64>() {
        Ok(v) => Some(Value::Int(v)),
        Err(_) => text.parse::<f64>().ok().filter(|f| f.is_finite()).map(Value::Float),
    }
}

/// A failed ingestion step: what was being done and the driver's error.
struct Failed {
    what: &'static str,
    error: oracledb::Error,
}

impl Failed {
    fn is_unique_violation(&self) -> bool {
        matches!(self.error.kind(), oracledb::ErrorKind::DbError(e) if e.code() == UNIQUE_VIOLATED)
    }

    fn into_error(self) -> WarehouseError {
        WarehouseError::Unavailable { what: self.what, reason: self.error.to_string() }
    }
}

trait During<T> {
    fn during(self, what: &'static str) -> Result<T, Failed>;
}

impl<T> During<T> for Result<T, oracledb::Error> {
    fn during(self, what: &'static str) -> Result<T, Failed> {
        self.map_err(|error| Failed { what, error })
    }
}

/// One attempt at storing `batch`, committed on success (the caller rolls back on failure).
fn ingest(conn: &Connection, batch: &Batch, received_at_ms: i64) -> Result<IngestCounts, Failed> {
    let mut counts = IngestCounts::default();
    let mut new = NewEvents::default();
    counts += ratings(conn, batch, received_at_ms, &mut new).during("storing ratings")?;
    counts += lists(conn, batch, received_at_ms, &mut new).during("storing impressions")?;
    counts += activity(conn, batch, received_at_ms, &mut new).during("storing activity")?;
    counts += requests(conn, batch, &mut new).during("storing request logs")?;
    store_new(new, conn).during("updating the daily roll-ups")?;
    counts += movies(conn, batch).during("updating movies")?;
    counts += users(conn, batch).during("updating users")?;
    counts += models(conn, batch).during("recording model versions")?;
    user_days(conn, batch).during("updating active users")?;
    conn.commit().during("committing")?;
    Ok(counts)
}

type Binds<'a, const N: usize> = [&'a dyn ToDbValue; N];

/// Executes `sql` once per row of `rows` in one round trip; the rows it affected in all.
fn execute_rows<const N: usize>(
    conn: &Connection,
    sql: &str,
    rows: &[Binds<'_, N>],
) -> Result<u64, oracledb::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let rows: Vec<&[&dyn ToDbValue]> = rows.iter().map(|r| &r[..]).collect();
    Ok(conn.execute_batch(sql, rows.as_slice())?.rows_affected())
}

/// Executes `block` (PL/SQL whose last `OUT` binds each receive a number) once per row of
/// `rows` (without those binds) in one round trip; for each row, the numbers it returned.
fn out_numbers<const N: usize, const OUT: usize>(
    conn: &Connection,
    block: &str,
    rows: &[Binds<'_, N>],
) -> Result<Vec<[i64; OUT]>, oracledb::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let out: &dyn ToDbValue = &oracledb::DB_TYPE_NUMBER;
    let rows: Vec<Vec<&dyn ToDbValue>> =
        rows.iter().map(|r| r.iter().copied().chain([out; OUT]).collect()).collect();
    let rows: Vec<&[&dyn ToDbValue]> = rows.iter().map(Vec::as_slice).collect();
    let mut res = conn.execute_batch(block, rows.as_slice())?;
    res.out_bind_data()
        .iter()
        .map(|row| {
            let mut numbers = [0; OUT];
            for (i, n) in numbers.iter_mut().enumerate() {
                *n = row.get::<i64>(i)?;
            }
            Ok(numbers)
        })
        .collect()
}

/// Executes `block` (PL/SQL whose last bind receives `SQL%ROWCOUNT`) once per row of `rows`
/// (without that bind) in one round trip; for each row, whether it changed a row.
fn changed_rows<const N: usize>(
    conn: &Connection,
    block: &str,
    rows: &[Binds<'_, N>],
) -> Result<Vec<bool>, oracledb::Error> {
    Ok(out_numbers::<N, 1>(conn, block, rows)?.iter().map(|[count]| *count > 0).collect())
}

fn counted(total: usize, stored: u64) -> IngestCounts {
    IngestCounts { stored, duplicates: total as u64 - stored }
}

/// The first event of each `event_id` (a repeat within the batch is a duplicate), in id order.
fn first_per_id<T>(events: &[T], id: impl Fn(&T) -> &str) -> Vec<&T> {
    let mut first: BTreeMap<&str, &T> = BTreeMap::new();
    for event in events {
        first.entry(id(event)).or_insert(event);
    }
    first.into_values().collect()
}

fn ratings(
    conn: &Connection,
    batch: &Batch,
    received_at_ms: i64,
    new: &mut NewEvents,
) -> Result<IngestCounts, oracledb::Error> {
    let events = first_per_id(&batch.ratings, |e| &e.event_id);
    let owned: Vec<_> = events
        .iter()
        .map(|e| (e.user_id as i64, e.movie_id as i64, e.change as i16, day_of_ms(e.occurred_at_ms)))
        .collect();
    let rows: Vec<Binds<'_, 8>> = events
        .iter()
        .zip(&owned)
        .map(|(e, o)| {
            [&e.event_id, &o.0, &o.1, &e.rating, &o.2, &e.occurred_at_ms, &o.3, &received_at_ms]
                as Binds<'_, 8>
        })
        .collect();
    let stored = changed_rows(
        conn,
        "BEGIN \
           MERGE INTO rating_events t USING (SELECT :1 AS event_id FROM dual) s ON (t.event_id = s.event_id) \
           WHEN NOT MATCHED THEN INSERT (event_id, user_id, movie_id, rating, change, occurred_at_ms, day, received_at_ms) \
           VALUES (s.event_id, :2, :3, :4, :5, :6, :7, :8); \
           :9 := SQL%ROWCOUNT; \
         END;",
        &rows,
    )?;
    for (e, o) in events.iter().zip(&owned).zip(&stored).filter(|(_, stored)| **stored).map(|(eo, _)| eo) {
        new.rating(o.3, o.0, o.1, e.rating, e.change == crate::facts::RatingChange::Deleted);
    }
    Ok(counted(batch.ratings.len(), stored.iter().filter(|s| **s).count() as u64))
}

/// Lists first (which ones were new, per row), then the impressions and roll-ups of those only.
fn lists(
    conn: &Connection,
    batch: &Batch,
    received_at_ms: i64,
    new: &mut NewEvents,
) -> Result<IngestCounts, oracledb::Error> {
    let events = first_per_id(&batch.lists, |e| &e.event_id);
    let owned: Vec<_> = events
        .iter()
        .map(|e| (e.user_id.map(|u| u as i64), e.movie_ids.len() as i32, day_of_ms(e.served_at_ms)))
        .collect();
    let rows: Vec<Binds<'_, 11>> = events
        .iter()
        .zip(&owned)
        .map(|(e, o)| {
            [
                &e.event_id,
                &e.recommendation_id,
                &o.0,
                &e.anonymous_id,
                &e.model_version,
                &e.source,
                &e.surface,
                &o.1,
                &e.served_at_ms,
                &o.2,
                &received_at_ms,
            ] as Binds<'_, 11>
        })
        .collect();
    let new_lists = changed_rows(
        conn,
        "BEGIN \
           MERGE INTO recommendation_lists t USING (SELECT :1 AS event_id FROM dual) s ON (t.event_id = s.event_id) \
           WHEN NOT MATCHED THEN INSERT (event_id, recommendation_id, user_id, anonymous_id, model_version, source, \
                                         surface, list_size, served_at_ms, day, received_at_ms) \
           VALUES (s.event_id, :2, :3, :4, :5, :6, :7, :8, :9, :10, :11); \
           :12 := SQL%ROWCOUNT; \
         END;",
        &rows,
    )?;
    let fresh: Vec<_> = events.iter().zip(&new_lists).filter(|(_, new)| **new).map(|(e, _)| *e).collect();
    if fresh.is_empty() {
        return Ok(counted(batch.lists.len(), 0));
    }

    let mut items = Vec::with_capacity(fresh.iter().map(|e| e.movie_ids.len()).sum());
    let rollups = ListRollups::of(&fresh, new);
    for list in &fresh {
        let d = day_of_ms(list.served_at_ms);
        for (p, &m) in list.movie_ids.iter().enumerate() {
            items.push((list, p as i32, m as i64, list.user_id.map(|u| u as i64), d));
        }
    }
    let rows: Vec<Binds<'_, 7>> = items
        .iter()
        .map(|(l, p, m, u, d)| {
            [&l.recommendation_id, p, m, u, &l.model_version, &l.surface, d] as Binds<'_, 7>
        })
        .collect();
    execute_rows(
        conn,
        "INSERT INTO impressions (recommendation_id, position, movie_id, user_id, model_version, surface, day) \
         VALUES (:1, :2, :3, :4, :5, :6, :7)",
        &rows,
    )?;
    let rows: Vec<Binds<'_, 5>> =
        rollups.by_position.iter().map(|((d, v, s, p), n)| [d, v, s, p, n] as Binds<'_, 5>).collect();
    // DECODE equates NULLs: '' model versions and surfaces are NULL in Oracle.
    execute_rows(
        conn,
        "MERGE INTO impressions_daily t \
         USING (SELECT :1 AS day, :2 AS model_version, :3 AS surface, :4 AS position, :5 AS impressions FROM dual) s \
         ON (t.day = s.day AND t.position = s.position AND DECODE(t.model_version, s.model_version, 1, 0) = 1 \
             AND DECODE(t.surface, s.surface, 1, 0) = 1) \
         WHEN MATCHED THEN UPDATE SET t.impressions = t.impressions + s.impressions \
         WHEN NOT MATCHED THEN INSERT (day, model_version, surface, position, impressions) \
         VALUES (s.day, s.model_version, s.surface, s.position, s.impressions)",
        &rows,
    )?;
    let rows: Vec<Binds<'_, 3>> =
        rollups.by_movie.iter().map(|((d, m), n)| [d, m, n] as Binds<'_, 3>).collect();
    execute_rows(
        conn,
        "MERGE INTO movie_impressions_daily t \
         USING (SELECT :1 AS day, :2 AS movie_id, :3 AS impressions FROM dual) s \
         ON (t.day = s.day AND t.movie_id = s.movie_id) \
         WHEN MATCHED THEN UPDATE SET t.impressions = t.impressions + s.impressions \
         WHEN NOT MATCHED THEN INSERT (day, movie_id, impressions) VALUES (s.day, s.movie_id, s.impressions)",
        &rows,
    )?;
    // What each signed-in user was shown each day, positive when a click or a rating of 4 or
    // more of that movie that day is already stored (later ones mark it in `NewEvents::store`).
    // Per row: whether it was inserted, and its `positive`. In PL/SQL a repeated bind name is
    // one value: :1..:3 are used twice.
    let rows: Vec<Binds<'_, 3>> = rollups.shown.iter().map(|(d, u, m)| [d, u, m] as Binds<'_, 3>).collect();
    let stored = out_numbers::<3, 2>(
        conn,
        "DECLARE \
           known NUMBER; \
         BEGIN \
           SELECT COUNT(*) INTO known FROM user_day_positive WHERE day = :1 AND user_id = :2 AND movie_id = :3; \
           MERGE INTO user_day_shown t USING (SELECT :1 AS day, :2 AS user_id, :3 AS movie_id FROM dual) s \
           ON (t.day = s.day AND t.user_id = s.user_id AND t.movie_id = s.movie_id) \
           WHEN NOT MATCHED THEN INSERT (day, user_id, movie_id, positive) \
           VALUES (s.day, s.user_id, s.movie_id, known); \
           :4 := SQL%ROWCOUNT; \
           :5 := known; \
         END;",
        &rows,
    )?;
    // The rows inserted, per (day, user): how many, and how many of them positive.
    let mut feedback: BTreeMap<(i32, i64), (i64, i64)> = BTreeMap::new();
    for (&(d, u, _), &[inserted, positive]) in rollups.shown.iter().zip(&stored) {
        if inserted > 0 {
            let totals = feedback.entry((d, u)).or_default();
            totals.0 += 1;
            totals.1 += positive;
        }
    }
    let rows: Vec<Binds<'_, 4>> =
        feedback.iter().map(|((d, u), (n, p))| [d, u, n, p] as Binds<'_, 4>).collect();
    execute_rows(
        conn,
        "MERGE INTO feedback_daily t \
         USING (SELECT :1 AS day, :2 AS user_id, :3 AS shown, :4 AS positives FROM dual) s \
         ON (t.day = s.day AND t.user_id = s.user_id) \
         WHEN MATCHED THEN UPDATE SET t.shown = t.shown + s.shown, t.positives = t.positives + s.positives \
         WHEN NOT MATCHED THEN INSERT (day, user_id, shown, positives) \
         VALUES (s.day, s.user_id, s.shown, s.positives)",
        &rows,
    )?;
    Ok(counted(batch.lists.len(), fresh.len() as u64))
}

fn activity(
    conn: &Connection,
    batch: &Batch,
    received_at_ms: i64,
    new: &mut NewEvents,
) -> Result<IngestCounts, oracledb::Error> {
    let events = first_per_id(&batch.activity, |e| &e.event_id);
    let owned: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.user_id.map(|u| u as i64),
                e.movie_id.map(|m| m as i64),
                e.position.map(i64::from),
                e.context.to_string(),
                day_of_ms(e.occurred_at_ms),
            )
        })
        .collect();
    let rows: Vec<Binds<'_, 12>> = events
        .iter()
        .zip(&owned)
        .map(|(e, o)| {
            [
                &e.event_id,
                &e.occurred_at_ms,
                &e.event_type,
                &received_at_ms,
                &o.0,
                &e.anonymous_id,
                &e.session_id,
                &e.recommendation_id,
                &o.1,
                &o.2,
                &o.3,
                &o.4,
            ] as Binds<'_, 12>
        })
        .collect();
    // The context is bound in VALUES, not in the USING query: a text over 4,000 bytes travels as
    // a LONG bind, which Oracle takes only where it is inserted.
    let stored = changed_rows(
        conn,
        "BEGIN \
           MERGE INTO activity_events t USING (SELECT :1 AS event_id, :2 AS at FROM dual) s ON (t.event_id = s.event_id) \
           WHEN NOT MATCHED THEN INSERT (event_id, event_type, occurred_at, received_at, user_id, anonymous_id, session_id, \
                                         recommendation_id, movie_id, position, context, day, occurred_at_ms) \
           VALUES (s.event_id, :3, TIMESTAMP '1970-01-01 00:00:00 +00:00' + NUMTODSINTERVAL(s.at / 1000, 'SECOND'), \
                   TIMESTAMP '1970-01-01 00:00:00 +00:00' + NUMTODSINTERVAL(:4 / 1000, 'SECOND'), \
                   :5, :6, :7, :8, :9, :10, :11, :12, s.at); \
           :13 := SQL%ROWCOUNT; \
         END;",
        &rows,
    )?;
    for (e, o) in events.iter().zip(&owned).zip(&stored).filter(|(_, stored)| **stored).map(|(eo, _)| eo) {
        new.activity(o.4, &e.event_type, o.0, o.1);
    }
    Ok(counted(batch.activity.len(), stored.iter().filter(|s| **s).count() as u64))
}

fn requests(conn: &Connection, batch: &Batch, new: &mut NewEvents) -> Result<IngestCounts, oracledb::Error> {
    let events = first_per_id(&batch.requests, |e| &e.event_id);
    let owned: Vec<_> =
        events.iter().map(|e| (day_of_ms(e.occurred_at_ms), hour_of_ms(e.occurred_at_ms))).collect();
    let rows: Vec<Binds<'_, 9>> = events
        .iter()
        .zip(&owned)
        .map(|(e, o)| {
            [
                &e.event_id,
                &e.route,
                &e.method,
                &e.status,
                &e.latency_ms,
                &e.request_id,
                &e.occurred_at_ms,
                &o.0,
                &o.1,
            ] as Binds<'_, 9>
        })
        .collect();
    let stored = changed_rows(
        conn,
        "BEGIN \
           MERGE INTO request_logs t USING (SELECT :1 AS event_id FROM dual) s ON (t.event_id = s.event_id) \
           WHEN NOT MATCHED THEN INSERT (event_id, route, method, status, latency_ms, request_id, occurred_at_ms, day, hour) \
           VALUES (s.event_id, :2, :3, :4, :5, :6, :7, :8, :9); \
           :10 := SQL%ROWCOUNT; \
         END;",
        &rows,
    )?;
    for (o, _) in owned.iter().zip(&stored).filter(|(_, stored)| **stored) {
        new.count(o.0, "request", 1);
    }
    Ok(counted(batch.requests.len(), stored.iter().filter(|s| **s).count() as u64))
}

/// Adds `new` to `events_daily`; records the new positives and, for each one newly inserted,
/// marks what it hit in `user_day_shown` (once: a positive already there changes nothing),
/// adding those hits to `feedback_daily`.
fn store_new(new: NewEvents, conn: &Connection) -> Result<(), oracledb::Error> {
    let rows: Vec<Binds<'_, 3>> = new.by_day.iter().map(|((d, k), n)| [d, k, n] as Binds<'_, 3>).collect();
    execute_rows(
        conn,
        "MERGE INTO events_daily t USING (SELECT :1 AS day, :2 AS kind, :3 AS events FROM dual) s \
         ON (t.day = s.day AND t.kind = s.kind) \
         WHEN MATCHED THEN UPDATE SET t.events = t.events + s.events \
         WHEN NOT MATCHED THEN INSERT (day, kind, events) VALUES (s.day, s.kind, s.events)",
        &rows,
    )?;
    // Per positive: the `user_day_shown` rows it marked (0 unless it was inserted). In PL/SQL
    // a repeated bind name is one value: :1..:4 are used twice.
    let rows: Vec<Binds<'_, 3>> = new.positives.iter().map(|(d, u, m)| [d, u, m] as Binds<'_, 3>).collect();
    let marked = out_numbers::<3, 1>(
        conn,
        "BEGIN \
           MERGE INTO user_day_positive t USING (SELECT :1 AS day, :2 AS user_id, :3 AS movie_id FROM dual) s \
           ON (t.day = s.day AND t.user_id = s.user_id AND t.movie_id = s.movie_id) \
           WHEN NOT MATCHED THEN INSERT (day, user_id, movie_id) VALUES (s.day, s.user_id, s.movie_id); \
           IF SQL%ROWCOUNT = 0 THEN \
             :4 := 0; \
           ELSE \
             UPDATE user_day_shown SET positive = 1 \
             WHERE day = :1 AND user_id = :2 AND movie_id = :3 AND positive = 0; \
             :4 := SQL%ROWCOUNT; \
           END IF; \
         END;",
        &rows,
    )?;
    let mut hits: BTreeMap<(i32, i64), i64> = BTreeMap::new();
    for (&(d, u, _), &[n]) in new.positives.iter().zip(&marked) {
        if n > 0 {
            *hits.entry((d, u)).or_default() += n;
        }
    }
    let rows: Vec<Binds<'_, 3>> = hits.iter().map(|((d, u), n)| [d, u, n] as Binds<'_, 3>).collect();
    execute_rows(
        conn,
        "MERGE INTO feedback_daily t USING (SELECT :1 AS day, :2 AS user_id, :3 AS positives FROM dual) s \
         ON (t.day = s.day AND t.user_id = s.user_id) \
         WHEN MATCHED THEN UPDATE SET t.positives = t.positives + s.positives \
         WHEN NOT MATCHED THEN INSERT (day, user_id, shown, positives) VALUES (s.day, s.user_id, 0, s.positives)",
        &rows,
    )?;
    Ok(())
}

/// The movie row replaced when the event is newer (time, then event id); then its genres.
fn movies(conn: &Connection, batch: &Batch) -> Result<IngestCounts, oracledb::Error> {
    let m = latest_per_key(&batch.movies, |e| e.movie_id, |e| (e.occurred_at_ms, e.event_id.as_str()));
    let owned: Vec<_> =
        m.iter().map(|e| (e.movie_id as i64, e.genres.join("|"), i16::from(e.deleted))).collect();
    let rows: Vec<Binds<'_, 7>> = m
        .iter()
        .zip(&owned)
        .map(|(e, o)| [&o.0, &e.title, &e.year, &o.1, &o.2, &e.occurred_at_ms, &e.event_id] as Binds<'_, 7>)
        .collect();
    let changed = changed_rows(
        conn,
        "BEGIN \
           MERGE INTO movies_dim t \
           USING (SELECT :1 AS movie_id, :2 AS title, :3 AS year, :4 AS genres, :5 AS deleted, :6 AS updated_at_ms, \
                         :7 AS event_id FROM dual) s \
           ON (t.movie_id = s.movie_id) \
           WHEN MATCHED THEN UPDATE SET t.title = s.title, t.year = s.year, t.genres = s.genres, t.deleted = s.deleted, \
                                        t.updated_at_ms = s.updated_at_ms, t.event_id = s.event_id \
             WHERE s.updated_at_ms > t.updated_at_ms \
                OR (s.updated_at_ms = t.updated_at_ms AND s.event_id > t.event_id) \
           WHEN NOT MATCHED THEN INSERT (movie_id, title, year, genres, deleted, updated_at_ms, event_id) \
           VALUES (s.movie_id, s.title, s.year, s.genres, s.deleted, s.updated_at_ms, s.event_id); \
           :8 := SQL%ROWCOUNT; \
         END;",
        &rows,
    )?;
    let changed: Vec<_> =
        m.iter().zip(&owned).zip(&changed).filter(|(_, c)| **c).map(|(pair, _)| pair).collect();
    let ids: Vec<Binds<'_, 1>> = changed.iter().map(|(_, o)| [&o.0] as Binds<'_, 1>).collect();
    execute_rows(conn, "DELETE FROM movie_genres WHERE movie_id = :1", &ids)?;
    // A genre listed twice is stored once; '' would be NULL, which a key cannot hold.
    let mut pairs: Vec<(i64, &str)> = changed
        .iter()
        .filter(|(e, _)| !e.deleted)
        .flat_map(|(e, o)| e.genres.iter().filter(|g| !g.is_empty()).map(move |g| (o.0, g.as_str())))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let rows: Vec<Binds<'_, 2>> = pairs.iter().map(|(id, g)| [id, g] as Binds<'_, 2>).collect();
    execute_rows(conn, "INSERT INTO movie_genres (movie_id, genre) VALUES (:1, :2)", &rows)?;
    Ok(counted(batch.movies.len(), changed.len() as u64))
}

/// The user row replaced when the event is newer (time, then event id). A row made by
/// [`user_days`] has no event id (PostgreSQL's '' is NULL here): any event at its time is newer.
fn users(conn: &Connection, batch: &Batch) -> Result<IngestCounts, oracledb::Error> {
    let u = latest_per_key(&batch.users, |e| e.user_id, |e| (e.occurred_at_ms, e.event_id.as_str()));
    let owned: Vec<_> = u
        .iter()
        .map(|e| {
            (
                e.user_id as i64,
                day_of_ms(e.occurred_at_ms),
                e.favourite_genres.as_ref().map(|g| g.join("|")),
                i16::from(e.favourite_genres.is_none()),
            )
        })
        .collect();
    let rows: Vec<Binds<'_, 6>> = u
        .iter()
        .zip(&owned)
        .map(|(e, o)| [&o.0, &o.1, &o.2, &o.3, &e.occurred_at_ms, &e.event_id] as Binds<'_, 6>)
        .collect();
    let stored = execute_rows(
        conn,
        "MERGE INTO users_dim t \
         USING (SELECT :1 AS user_id, :2 AS first_seen_day, :3 AS favourite_genres, :4 AS deleted, :5 AS updated_at_ms, \
                       :6 AS event_id FROM dual) s \
         ON (t.user_id = s.user_id) \
         WHEN MATCHED THEN UPDATE SET t.favourite_genres = s.favourite_genres, t.deleted = s.deleted, \
                                      t.updated_at_ms = s.updated_at_ms, t.event_id = s.event_id \
           WHERE s.updated_at_ms > t.updated_at_ms \
              OR (s.updated_at_ms = t.updated_at_ms AND (t.event_id IS NULL OR s.event_id > t.event_id)) \
         WHEN NOT MATCHED THEN INSERT (user_id, first_seen_day, favourite_genres, deleted, updated_at_ms, event_id) \
         VALUES (s.user_id, s.first_seen_day, s.favourite_genres, s.deleted, s.updated_at_ms, s.event_id)",
        &rows,
    )?;
    Ok(counted(batch.users.len(), stored))
}

/// Days users were active, and each user's first day (new users).
fn user_days(conn: &Connection, batch: &Batch) -> Result<(), oracledb::Error> {
    let pairs: Vec<(i32, i64)> = batch.active_user_days().into_iter().map(|(d, u)| (d, u as i64)).collect();
    let rows: Vec<Binds<'_, 2>> = pairs.iter().map(|(d, u)| [d, u] as Binds<'_, 2>).collect();
    execute_rows(
        conn,
        "MERGE INTO user_days t USING (SELECT :1 AS day, :2 AS user_id FROM dual) s \
         ON (t.day = s.day AND t.user_id = s.user_id) \
         WHEN NOT MATCHED THEN INSERT (day, user_id) VALUES (s.day, s.user_id)",
        &rows,
    )?;
    let mut first: BTreeMap<i64, i32> = BTreeMap::new();
    for &(day, user) in &pairs {
        first.entry(user).and_modify(|d| *d = (*d).min(day)).or_insert(day);
    }
    let rows: Vec<Binds<'_, 2>> = first.iter().map(|(u, d)| [u, d] as Binds<'_, 2>).collect();
    execute_rows(
        conn,
        "MERGE INTO users_dim t USING (SELECT :1 AS user_id, :2 AS first_seen_day FROM dual) s \
         ON (t.user_id = s.user_id) \
         WHEN MATCHED THEN UPDATE SET t.first_seen_day = s.first_seen_day WHERE s.first_seen_day < t.first_seen_day \
         WHEN NOT MATCHED THEN INSERT (user_id, first_seen_day) VALUES (s.user_id, s.first_seen_day)",
        &rows,
    )?;
    Ok(())
}

fn models(conn: &Connection, batch: &Batch) -> Result<IngestCounts, oracledb::Error> {
    let events = first_per_id(&batch.models, |e| &e.version);
    let metrics: Vec<String> =
        events.iter().map(|e| serde_json::to_string(&e.metrics).unwrap_or_else(|_| "{}".into())).collect();
    let rows: Vec<Binds<'_, 6>> = events
        .iter()
        .zip(&metrics)
        .map(|(e, m)| [&e.version, &e.kind, &e.dataset, &e.trained_at_ms, m, &e.seen_at_ms] as Binds<'_, 6>)
        .collect();
    let stored = execute_rows(
        conn,
        "MERGE INTO model_versions t USING (SELECT :1 AS version FROM dual) s ON (t.version = s.version) \
         WHEN NOT MATCHED THEN INSERT (version, kind, dataset, trained_at_ms, metrics, first_seen_at_ms) \
         VALUES (s.version, :2, :3, :4, :5, :6)",
        &rows,
    )?;
    Ok(counted(batch.models.len(), stored))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    fn url_error(url: &str) -> String {
        match configs(url, 4) {
            Err(WarehouseError::InvalidUrl(why)) => why,
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("{url} was taken"),
        }
    }

    #[test]
    fn urls_are_checked_without_repeating_the_password() {
        assert!(configs("oracle://app:s3cret@db.example:1521/FREEPDB1", 4).is_ok());
        assert!(configs("oracle://app:p%40ss%3Aword@127.0.0.1:1521/FREEPDB1", 1).is_ok());
        for (url, why) in [
            ("postgres://app:s3cret@db:5432/x", "not an oracle:// URL"),
            ("oracle://db.example:1521/FREEPDB1", "no user and password"),
            ("oracle://app@db.example:1521/FREEPDB1", "no password"),
            ("oracle://:s3cret@db.example:1521/FREEPDB1", "no user"),
            ("oracle://app:s3cret@db.example:1521", "no host or service name"),
            ("oracle://app:s3cret%zz@db.example:1521/FREEPDB1", "the password is not valid"),
        ] {
            let error = url_error(url);
            assert!(error.starts_with(why), "{url}: {error}");
            assert!(!error.contains("s3cret"), "{error}");
        }
    }

    #[test]
    fn percent_escapes_decode() {
        assert_eq!(percent_decode("p%40ss%3a%2Fw").as_deref(), Some("p@ss:/w"));
        assert_eq!(percent_decode("%C3%A9t%C3%A9").as_deref(), Some("été"));
        assert_eq!(percent_decode("50%"), None);
        assert_eq!(percent_decode("%FF"), None);
    }

    #[test]
    fn numbers_are_integers_unless_they_have_a_fraction() {
        assert_eq!(number("42"), Some(Value::Int(42)));
        assert_eq!(number("-7"), Some(Value::Int(-7)));
        assert_eq!(number("0.25"), Some(Value::Float(0.25)));
        assert_eq!(number("-.5"), Some(Value::Float(-0.5)));
        assert_eq!(number("100000000000000000000"), Some(Value::Float(1e20)));
        assert_eq!(number("~"), None);
    }

    #[test]
    fn statements_split_on_slash_lines() {
        let sql = "-- a table\nCREATE TABLE t (a NUMBER)\n/\n\n-- only a comment\n/\nBEGIN\n  NULL;\nEND;\n/\n\
                   INSERT INTO t (a) SELECT 1 FROM dual\n";
        assert_eq!(
            statements(sql),
            ["CREATE TABLE t (a NUMBER)", "BEGIN\n  NULL;\nEND;", "INSERT INTO t (a) SELECT 1 FROM dual"]
        );
    }

    #[test]
    fn migration_statements_have_no_sql_terminator() {
        let all = statements(MIGRATIONS[0].2);
        assert_eq!(all.iter().filter(|s| s.starts_with("CREATE TABLE")).count(), 17);
        for statement in &all {
            let plsql = statement.starts_with("BEGIN") || statement.starts_with("DECLARE");
            assert!(plsql || !statement.ends_with(';'), "{statement}");
            assert!(!statement.contains("\n/\n"), "{statement}");
        }
    }

    /// Table → its columns.
    type Tables = BTreeMap<String, BTreeSet<String>>;
    /// (table, indexed columns).
    type Indexes = BTreeSet<(String, String)>;

    /// The tables and indexes that CREATE TABLE, ALTER TABLE … ADD COLUMN and CREATE INDEX
    /// statements make (enough SQL for the two dialects' migrations).
    fn shape(sql: &str) -> (Tables, Indexes) {
        let sql: String = sql
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n")
            .to_lowercase();
        let mut tables = Tables::new();
        let mut indexes = Indexes::new();
        for statement in sql.split([';', '/']) {
            let words: Vec<&str> = statement.split_whitespace().collect();
            let text = words.join(" ");
            if let Some(rest) = text.strip_prefix("create table ") {
                let (name, body) = rest.split_once(" (").unwrap();
                let columns = tables.entry(name.replace("if not exists ", "")).or_default();
                let body = body.rsplit_once(')').unwrap().0;
                let mut depth = 0;
                let mut part = String::new();
                for c in body.chars().chain([',']) {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        ',' if depth == 0 => {
                            let first = part.split_whitespace().next().unwrap_or("").to_owned();
                            if !["constraint", "primary", "unique"].contains(&first.as_str()) {
                                columns.insert(first);
                            }
                            part.clear();
                            continue;
                        }
                        _ => {}
                    }
                    part.push(c);
                }
            } else if let Some(rest) = text.strip_prefix("alter table ") {
                let (table, rest) = rest.split_once(' ').unwrap();
                if let Some(column) = rest.strip_prefix("add column if not exists ") {
                    tables
                        .entry(table.to_owned())
                        .or_default()
                        .insert(column.split(' ').next().unwrap().to_owned());
                }
            } else if text.starts_with("create index ") {
                let (_, on) = text.split_once(" on ").unwrap();
                let (table, columns) = on.split_once(" (").unwrap();
                let columns = columns.split_once(')').unwrap().0.replace(' ', "");
                indexes.insert((table.to_owned(), columns));
            }
        }
        (tables, indexes)
    }

    #[test]
    fn the_oracle_schema_has_the_postgres_tables_columns_and_indexes() {
        let postgres = [
            include_str!("../migrations/postgres/0001_activity.sql"),
            include_str!("../migrations/postgres/0002_facts.sql"),
        ]
        .join("\n");
        let (pg_tables, pg_indexes) = shape(&postgres);
        let (ora_tables, ora_indexes) = shape(MIGRATIONS[0].2);
        assert_eq!(ora_tables, pg_tables);
        assert_eq!(ora_indexes, pg_indexes);
        assert_eq!(pg_tables.len(), 17);
    }
}
