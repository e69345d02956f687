//! The PostgreSQL warehouse ([`PgWarehouse`], sqlx at run time, migrations embedded). A batch
//! is one transaction of one statement per kind over arrays (`UNNEST`): facts with `ON
//! CONFLICT (event_id) DO NOTHING`, the impressions and roll-ups of the lists that were new
//! only, dimensions upserted when the event is newer than the row. Keys are sorted before
//! upserting so that concurrent transactions lock rows in one order.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Column, Postgres, Row as _, SqlStr, Transaction, TypeInfo};

use crate::facts::{Batch, RatingChange, latest_per_key};
use crate::rollup::{ListRollups, NewEvents};
use crate::{Dialect, IngestCounts, Row, Value, Warehouse, WarehouseError, day_of_ms, hour_of_ms};

fn migrator() -> Migrator {
    let migration = |version, name: &str, sql: &'static str| {
        Migration::new(
            version,
            name.to_owned().into(),
            MigrationType::Simple,
            SqlStr::from_static(sql),
            false,
        )
    };
    Migrator::with_migrations(vec![
        migration(1, "activity", include_str!("../migrations/postgres/0001_activity.sql")),
        migration(2, "facts", include_str!("../migrations/postgres/0002_facts.sql")),
    ])
}

fn unavailable(what: &'static str) -> impl Fn(sqlx::Error) -> WarehouseError {
    move |e| WarehouseError::Unavailable { what, reason: e.to_string() }
}

/// The PostgreSQL warehouse.
#[derive(Clone, Debug)]
pub struct PgWarehouse {
    pool: PgPool,
}

impl PgWarehouse {
    /// Connects to `url` (`postgres://…`) and applies the migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, WarehouseError> {
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            WarehouseError::InvalidUrl(match e {
                sqlx::Error::Configuration(inner) => inner.to_string(),
                _ => "not a postgres:// URL".into(),
            })
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(3))
            // Reports are many short queries: JIT compiling them costs more than it saves; the
            // warehouse lives on SSDs, where an index probe costs about a sequential read (the
            // genre-diversity sample then reads 10,000 lists by index, not 8 million rows).
            .connect_lazy_with(options.options([
                ("timezone", "UTC"),
                ("jit", "off"),
                ("random_page_cost", "1.1"),
            ]));
        migrator()
            .run(&pool)
            .await
            .map_err(|e| WarehouseError::Unavailable { what: "migrating", reason: e.to_string() })?;
        Ok(Self { pool })
    }

    /// The connection pool (tests and benchmarks inspect tables with it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Creates a new, empty database named `{prefix}_{unique}` on the server of `admin_url` (a URL
/// to any database there, by a user who may create databases) and returns its URL: tests and
/// benchmarks each get their own warehouse.
pub async fn fresh_database(admin_url: &str, prefix: &str) -> Result<String, WarehouseError> {
    use sqlx::Connection;
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let unique =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
            ^ u128::from(std::process::id()) << 64;
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("{prefix}_{:x}_{n}", unique & 0xffff_ffff_ffff_ffff_ffff);
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(WarehouseError::InvalidUrl(format!(
            "database prefix `{prefix}`: letters, digits and _ only"
        )));
    }
    let mut connection = sqlx::PgConnection::connect(admin_url).await.map_err(unavailable("connecting"))?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut connection)
        .await
        .map_err(unavailable("creating a database"))?;
    let _ = connection.close().await;
    let base = admin_url.split('?').next().unwrap_or(admin_url);
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    Ok(format!("{server}/{name}"))
}

impl Warehouse for PgWarehouse {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn ingest(&self, batch: &Batch, received_at_ms: i64) -> Result<IngestCounts, WarehouseError> {
        let mut tx = self.pool.begin().await.map_err(unavailable("starting a transaction"))?;
        let mut counts = IngestCounts::default();
        let mut new = NewEvents::default();
        counts += ratings(&mut tx, batch, received_at_ms, &mut new)
            .await
            .map_err(unavailable("storing ratings"))?;
        counts += lists(&mut tx, batch, received_at_ms, &mut new)
            .await
            .map_err(unavailable("storing impressions"))?;
        counts += activity(&mut tx, batch, received_at_ms, &mut new)
            .await
            .map_err(unavailable("storing activity"))?;
        counts += requests(&mut tx, batch, &mut new).await.map_err(unavailable("storing request logs"))?;
        store_new(new, &mut tx).await.map_err(unavailable("updating the daily roll-ups"))?;
        counts += movies(&mut tx, batch).await.map_err(unavailable("updating movies"))?;
        counts += users(&mut tx, batch).await.map_err(unavailable("updating users"))?;
        counts += models(&mut tx, batch).await.map_err(unavailable("recording model versions"))?;
        user_days(&mut tx, batch).await.map_err(unavailable("updating active users"))?;
        tx.commit().await.map_err(unavailable("committing"))?;
        Ok(counts)
    }

    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, WarehouseError> {
        let sql = Dialect::Postgres.render(sql);
        let mut query = sqlx::query::<Postgres>(sqlx::AssertSqlSafe(sql));
        for param in params {
            query = match param {
                Value::Null => query.bind(None::<i64>),
                Value::Int(v) => query.bind(*v),
                Value::Float(v) => query.bind(*v),
                Value::Text(v) => query.bind(v.clone()),
            };
        }
        let rows = query.fetch_all(&self.pool).await.map_err(unavailable("running a report"))?;
        rows.iter().map(decode_row).collect()
    }

    async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

fn decode_row(row: &PgRow) -> Result<Row, WarehouseError> {
    let corrupt = |reason: String| WarehouseError::Corrupt { what: "decoding a report row", reason };
    (0..row.len())
        .map(|i| {
            let column = &row.columns()[i];
            let kind = column.type_info().name();
            let value = match kind {
                "INT2" => row.try_get::<Option<i16>, _>(i).map(|v| v.map(i64::from).map(Value::Int)),
                "INT4" => row.try_get::<Option<i32>, _>(i).map(|v| v.map(i64::from).map(Value::Int)),
                "INT8" => row.try_get::<Option<i64>, _>(i).map(|v| v.map(Value::Int)),
                "FLOAT4" => row.try_get::<Option<f32>, _>(i).map(|v| v.map(|f| Value::Float(f64::from(f)))),
                "FLOAT8" => row.try_get::<Option<f64>, _>(i).map(|v| v.map(Value::Float)),
                "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => {
                    row.try_get::<Option<String>, _>(i).map(|v| v.map(Value::Text))
                }
                "BOOL" => row.try_get::<Option<bool>, _>(i).map(|v| v.map(|b| Value::Int(i64::from(b)))),
                // SUM of BIGINT is NUMERIC: decoded here so that report SQL needs no casts.
                "NUMERIC" => row.try_get_raw(i).map(|raw| {
                    use sqlx::ValueRef;
                    if raw.is_null() { None } else { raw.as_bytes().ok().and_then(decode_numeric) }
                }),
                other => {
                    return Err(corrupt(format!(
                        "column `{}` is {other}: cast it to BIGINT, DOUBLE PRECISION or text",
                        column.name()
                    )));
                }
            };
            value
                .map(|v| v.unwrap_or(Value::Null))
                .map_err(|e| corrupt(format!("column `{}`: {e}", column.name())))
        })
        .collect()
}

/// A binary NUMERIC (`ndigits, weight, sign, dscale`, then base-10000 digits) as an integer
/// when it has no fraction and fits, else as a float.
fn decode_numeric(bytes: &[u8]) -> Option<Value> {
    let word = |k: usize| bytes.get(2 * k..2 * k + 2).map(|b| i16::from_be_bytes([b[0], b[1]]));
    let (ndigits, weight, sign, dscale) = (word(0)?, word(1)?, word(2)? as u16, word(3)?);
    if sign == 0xC000 {
        return Some(Value::Float(f64::NAN));
    }
    let negative = sign == 0x4000;
    let mut int: Option<i64> = Some(0);
    let mut float = 0.0f64;
    for k in 0..ndigits.max(0) as usize {
        let digit = i64::from(word(4 + k)?);
        let power = i32::from(weight) - k as i32;
        float += digit as f64 * 10_000f64.powi(power);
        int = match (int, power >= 0) {
            (Some(v), true) => {
                10_000i64.checked_pow(power as u32).and_then(|p| v.checked_add(digit.checked_mul(p)?))
            }
            (v, false) if digit == 0 => v,
            _ => None,
        };
    }
    Some(match int.filter(|_| dscale == 0) {
        Some(v) => Value::Int(if negative { -v } else { v }),
        None => Value::Float(if negative { -float } else { float }),
    })
}

type Tx<'a> = Transaction<'a, Postgres>;

fn counted(total: usize, stored: u64) -> IngestCounts {
    IngestCounts { stored, duplicates: total as u64 - stored }
}

async fn execute(
    tx: &mut Tx<'_>,
    query: sqlx::query::Query<'_, Postgres, PgArguments>,
) -> Result<u64, sqlx::Error> {
    Ok(query.execute(&mut **tx).await?.rows_affected())
}

async fn ratings(
    tx: &mut Tx<'_>,
    batch: &Batch,
    received_at_ms: i64,
    new: &mut NewEvents,
) -> Result<IngestCounts, sqlx::Error> {
    let r = &batch.ratings;
    if r.is_empty() {
        return Ok(IngestCounts::default());
    }
    let stored: Vec<(i32, i64, i64, f32, i16)> = sqlx::query_as(
        "INSERT INTO rating_events (event_id, user_id, movie_id, rating, change, occurred_at_ms, day, received_at_ms) \
         SELECT e.id, e.user_id, e.movie_id, e.rating, e.change, e.at, e.day, $8 \
         FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::float4[], $5::int2[], $6::int8[], $7::int4[]) \
              AS e(id, user_id, movie_id, rating, change, at, day) \
         ON CONFLICT (event_id) DO NOTHING RETURNING day, user_id, movie_id, rating, change",
    )
    .bind(r.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>())
    .bind(r.iter().map(|e| e.user_id as i64).collect::<Vec<_>>())
    .bind(r.iter().map(|e| e.movie_id as i64).collect::<Vec<_>>())
    .bind(r.iter().map(|e| e.rating).collect::<Vec<_>>())
    .bind(r.iter().map(|e| e.change as i16).collect::<Vec<_>>())
    .bind(r.iter().map(|e| e.occurred_at_ms).collect::<Vec<_>>())
    .bind(r.iter().map(|e| day_of_ms(e.occurred_at_ms)).collect::<Vec<_>>())
    .bind(received_at_ms)
    .fetch_all(&mut **tx)
    .await?;
    for &(day, user, movie, rating, change) in &stored {
        new.rating(day, user, movie, rating, change == RatingChange::Deleted as i16);
    }
    Ok(counted(r.len(), stored.len() as u64))
}

/// Lists first (`RETURNING` the new ones), then the impressions and roll-ups of those only.
async fn lists(
    tx: &mut Tx<'_>,
    batch: &Batch,
    received_at_ms: i64,
    new: &mut NewEvents,
) -> Result<IngestCounts, sqlx::Error> {
    let l = &batch.lists;
    if l.is_empty() {
        return Ok(IngestCounts::default());
    }
    let new_ids: Vec<String> = sqlx::query_scalar(
        "INSERT INTO recommendation_lists (event_id, recommendation_id, user_id, anonymous_id, model_version, \
                                           source, surface, list_size, served_at_ms, day, received_at_ms) \
         SELECT e.*, $11 FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], \
                                     $7::text[], $8::int4[], $9::int8[], $10::int4[]) AS e \
         ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
    )
    .bind(l.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>())
    .bind(l.iter().map(|e| e.recommendation_id.as_str()).collect::<Vec<_>>())
    .bind(l.iter().map(|e| e.user_id.map(|u| u as i64)).collect::<Vec<_>>())
    .bind(l.iter().map(|e| e.anonymous_id.as_deref()).collect::<Vec<_>>())
    .bind(l.iter().map(|e| e.model_version.as_str()).collect::<Vec<_>>())
    .bind(l.iter().map(|e| e.source.as_str()).collect::<Vec<_>>())
    .bind(l.iter().map(|e| e.surface.as_str()).collect::<Vec<_>>())
    .bind(l.iter().map(|e| e.movie_ids.len() as i32).collect::<Vec<_>>())
    .bind(l.iter().map(|e| e.served_at_ms).collect::<Vec<_>>())
    .bind(l.iter().map(|e| day_of_ms(e.served_at_ms)).collect::<Vec<_>>())
    .bind(received_at_ms)
    .fetch_all(&mut **tx)
    .await?;
    if new_ids.is_empty() {
        return Ok(counted(l.len(), 0));
    }
    let new_ids: std::collections::HashSet<&str> = new_ids.iter().map(String::as_str).collect();
    let fresh: Vec<_> = l.iter().filter(|e| new_ids.contains(e.event_id.as_str())).collect();

    let n: usize = fresh.iter().map(|e| e.movie_ids.len()).sum();
    let (mut rec, mut pos, mut movie, mut user) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut version, mut surface, mut day) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let rollups = ListRollups::of(&fresh, new);
    for list in &fresh {
        let d = day_of_ms(list.served_at_ms);
        for (p, &m) in list.movie_ids.iter().enumerate() {
            rec.push(list.recommendation_id.as_str());
            pos.push(p as i32);
            movie.push(m as i64);
            user.push(list.user_id.map(|u| u as i64));
            version.push(list.model_version.as_str());
            surface.push(list.surface.as_str());
            day.push(d);
        }
    }
    let items = sqlx::query(
        "INSERT INTO impressions (recommendation_id, position, movie_id, user_id, model_version, surface, day) \
         SELECT * FROM UNNEST($1::text[], $2::int4[], $3::int8[], $4::int8[], $5::text[], $6::text[], $7::int4[])",
    )
    .bind(rec)
    .bind(pos)
    .bind(movie)
    .bind(user)
    .bind(version)
    .bind(surface)
    .bind(day);
    execute(tx, items).await?;
    let positions = sqlx::query(
        "INSERT INTO impressions_daily (day, model_version, surface, position, impressions) \
         SELECT * FROM UNNEST($1::int4[], $2::text[], $3::text[], $4::int4[], $5::int8[]) \
         ON CONFLICT (day, model_version, surface, position) \
         DO UPDATE SET impressions = impressions_daily.impressions + EXCLUDED.impressions",
    )
    .bind(rollups.by_position.keys().map(|k| k.0).collect::<Vec<_>>())
    .bind(rollups.by_position.keys().map(|k| k.1).collect::<Vec<_>>())
    .bind(rollups.by_position.keys().map(|k| k.2).collect::<Vec<_>>())
    .bind(rollups.by_position.keys().map(|k| k.3).collect::<Vec<_>>())
    .bind(rollups.by_position.values().copied().collect::<Vec<_>>());
    execute(tx, positions).await?;
    let movies = sqlx::query(
        "INSERT INTO movie_impressions_daily (day, movie_id, impressions) \
         SELECT * FROM UNNEST($1::int4[], $2::int8[], $3::int8[]) \
         ON CONFLICT (day, movie_id) DO UPDATE SET impressions = movie_impressions_daily.impressions + EXCLUDED.impressions",
    )
    .bind(rollups.by_movie.keys().map(|k| k.0).collect::<Vec<_>>())
    .bind(rollups.by_movie.keys().map(|k| k.1).collect::<Vec<_>>())
    .bind(rollups.by_movie.values().copied().collect::<Vec<_>>());
    execute(tx, movies).await?;
    // What each signed-in user was shown each day, positive when a click or a rating of 4 or
    // more of that movie that day is already stored (later ones mark it in `NewEvents::store`).
    let feedback = sqlx::query(
        "WITH shown AS ( \
           INSERT INTO user_day_shown (day, user_id, movie_id, positive) \
           SELECT s.day, s.user_id, s.movie_id, \
                  CASE WHEN EXISTS (SELECT 1 FROM user_day_positive p \
                                    WHERE p.day = s.day AND p.user_id = s.user_id AND p.movie_id = s.movie_id) \
                       THEN 1 ELSE 0 END \
           FROM UNNEST($1::int4[], $2::int8[], $3::int8[]) AS s(day, user_id, movie_id) \
           ON CONFLICT DO NOTHING RETURNING day, user_id, positive) \
         INSERT INTO feedback_daily (day, user_id, shown, positives) \
         SELECT day, user_id, COUNT(*), SUM(positive) FROM shown GROUP BY day, user_id \
         ON CONFLICT (day, user_id) DO UPDATE SET shown = feedback_daily.shown + EXCLUDED.shown, \
             positives = feedback_daily.positives + EXCLUDED.positives",
    )
    .bind(rollups.shown.iter().map(|k| k.0).collect::<Vec<_>>())
    .bind(rollups.shown.iter().map(|k| k.1).collect::<Vec<_>>())
    .bind(rollups.shown.iter().map(|k| k.2).collect::<Vec<_>>());
    execute(tx, feedback).await?;
    Ok(counted(l.len(), fresh.len() as u64))
}

async fn activity(
    tx: &mut Tx<'_>,
    batch: &Batch,
    received_at_ms: i64,
    new: &mut NewEvents,
) -> Result<IngestCounts, sqlx::Error> {
    let a = &batch.activity;
    if a.is_empty() {
        return Ok(IngestCounts::default());
    }
    let text = |f: fn(&crate::facts::ActivityFact) -> Option<&str>| a.iter().map(f).collect::<Vec<_>>();
    let stored: Vec<(i32, String, Option<i64>, Option<i64>)> = sqlx::query_as(
        "INSERT INTO activity_events (event_id, event_type, occurred_at, received_at, user_id, anonymous_id, \
                                      session_id, recommendation_id, movie_id, position, context, day, occurred_at_ms) \
         SELECT e.id, e.kind, to_timestamp(e.at / 1000.0), to_timestamp($12 / 1000.0), e.user_id, e.anonymous_id, \
                e.session_id, e.recommendation_id, e.movie_id, e.position, e.context::jsonb, e.day, e.at \
         FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[], $6::text[], $7::text[], \
                     $8::int8[], $9::int4[], $10::text[], $11::int4[]) \
              AS e(id, kind, at, user_id, anonymous_id, session_id, recommendation_id, movie_id, position, context, day) \
         ON CONFLICT (event_id) DO NOTHING RETURNING day, event_type, user_id, movie_id",
    )
    .bind(text(|e| Some(&e.event_id)))
    .bind(text(|e| Some(&e.event_type)))
    .bind(a.iter().map(|e| e.occurred_at_ms).collect::<Vec<_>>())
    .bind(a.iter().map(|e| e.user_id.map(|u| u as i64)).collect::<Vec<_>>())
    .bind(text(|e| e.anonymous_id.as_deref()))
    .bind(text(|e| e.session_id.as_deref()))
    .bind(text(|e| e.recommendation_id.as_deref()))
    .bind(a.iter().map(|e| e.movie_id.map(|m| m as i64)).collect::<Vec<_>>())
    .bind(a.iter().map(|e| e.position.map(|p| p as i32)).collect::<Vec<_>>())
    .bind(a.iter().map(|e| e.context.to_string()).collect::<Vec<_>>())
    .bind(a.iter().map(|e| day_of_ms(e.occurred_at_ms)).collect::<Vec<_>>())
    .bind(received_at_ms as f64)
    .fetch_all(&mut **tx)
    .await?;
    for (day, kind, user, movie) in &stored {
        new.activity(*day, kind, *user, *movie);
    }
    Ok(counted(a.len(), stored.len() as u64))
}

async fn requests(tx: &mut Tx<'_>, batch: &Batch, new: &mut NewEvents) -> Result<IngestCounts, sqlx::Error> {
    let r = &batch.requests;
    if r.is_empty() {
        return Ok(IngestCounts::default());
    }
    let days: Vec<i32> = sqlx::query_scalar(
        "INSERT INTO request_logs (event_id, route, method, status, latency_ms, request_id, occurred_at_ms, day, hour) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int2[], $5::float8[], $6::text[], $7::int8[], \
                              $8::int4[], $9::int8[]) \
         ON CONFLICT (event_id) DO NOTHING RETURNING day",
    )
    .bind(r.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>())
    .bind(r.iter().map(|e| e.route.as_str()).collect::<Vec<_>>())
    .bind(r.iter().map(|e| e.method.as_str()).collect::<Vec<_>>())
    .bind(r.iter().map(|e| e.status as i16).collect::<Vec<_>>())
    .bind(r.iter().map(|e| e.latency_ms).collect::<Vec<_>>())
    .bind(r.iter().map(|e| e.request_id.as_str()).collect::<Vec<_>>())
    .bind(r.iter().map(|e| e.occurred_at_ms).collect::<Vec<_>>())
    .bind(r.iter().map(|e| day_of_ms(e.occurred_at_ms)).collect::<Vec<_>>())
    .bind(r.iter().map(|e| hour_of_ms(e.occurred_at_ms)).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    for &day in &days {
        new.count(day, "request", 1);
    }
    Ok(counted(r.len(), days.len() as u64))
}

/// Adds `new` to `events_daily`; records the new positives and marks what they hit in
/// `user_day_shown` (once: a positive already there changes nothing), adding those hits to
/// `feedback_daily`.
async fn store_new(new: NewEvents, tx: &mut Tx<'_>) -> Result<(), sqlx::Error> {
    if !new.by_day.is_empty() {
        let query = sqlx::query(
                "INSERT INTO events_daily (day, kind, events) SELECT * FROM UNNEST($1::int4[], $2::text[], $3::int8[]) \
                 ON CONFLICT (day, kind) DO UPDATE SET events = events_daily.events + EXCLUDED.events",
            )
            .bind(new.by_day.keys().map(|k| k.0).collect::<Vec<_>>())
            .bind(new.by_day.keys().map(|k| k.1.as_str()).collect::<Vec<_>>())
            .bind(new.by_day.values().copied().collect::<Vec<_>>());
        execute(tx, query).await?;
    }
    if !new.positives.is_empty() {
        let query = sqlx::query(
                "WITH new AS ( \
                   INSERT INTO user_day_positive (day, user_id, movie_id) \
                   SELECT * FROM UNNEST($1::int4[], $2::int8[], $3::int8[]) \
                   ON CONFLICT DO NOTHING RETURNING day, user_id, movie_id), \
                 hit AS ( \
                   UPDATE user_day_shown s SET positive = 1 FROM new \
                   WHERE s.day = new.day AND s.user_id = new.user_id AND s.movie_id = new.movie_id AND s.positive = 0 \
                   RETURNING s.day, s.user_id) \
                 INSERT INTO feedback_daily (day, user_id, shown, positives) \
                 SELECT day, user_id, 0, COUNT(*) FROM hit GROUP BY day, user_id \
                 ON CONFLICT (day, user_id) DO UPDATE SET positives = feedback_daily.positives + EXCLUDED.positives",
            )
            .bind(new.positives.iter().map(|k| k.0).collect::<Vec<_>>())
            .bind(new.positives.iter().map(|k| k.1).collect::<Vec<_>>())
            .bind(new.positives.iter().map(|k| k.2).collect::<Vec<_>>());
        execute(tx, query).await?;
    }
    Ok(())
}

async fn movies(tx: &mut Tx<'_>, batch: &Batch) -> Result<IngestCounts, sqlx::Error> {
    let m = latest_per_key(&batch.movies, |e| e.movie_id, |e| (e.occurred_at_ms, e.event_id.as_str()));
    if m.is_empty() {
        return Ok(IngestCounts::default());
    }
    let changed: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO movies_dim (movie_id, title, year, genres, deleted, updated_at_ms, event_id) \
         SELECT * FROM UNNEST($1::int8[], $2::text[], $3::int4[], $4::text[], $5::int2[], $6::int8[], $7::text[]) \
         ON CONFLICT (movie_id) DO UPDATE SET title = EXCLUDED.title, year = EXCLUDED.year, genres = EXCLUDED.genres, \
             deleted = EXCLUDED.deleted, updated_at_ms = EXCLUDED.updated_at_ms, event_id = EXCLUDED.event_id \
         WHERE EXCLUDED.updated_at_ms > movies_dim.updated_at_ms \
            OR (EXCLUDED.updated_at_ms = movies_dim.updated_at_ms AND EXCLUDED.event_id > movies_dim.event_id) \
         RETURNING movie_id",
    )
    .bind(m.iter().map(|e| e.movie_id as i64).collect::<Vec<_>>())
    .bind(m.iter().map(|e| e.title.as_str()).collect::<Vec<_>>())
    .bind(m.iter().map(|e| e.year).collect::<Vec<_>>())
    .bind(m.iter().map(|e| e.genres.join("|")).collect::<Vec<_>>())
    .bind(m.iter().map(|e| i16::from(e.deleted)).collect::<Vec<_>>())
    .bind(m.iter().map(|e| e.occurred_at_ms).collect::<Vec<_>>())
    .bind(m.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    if !changed.is_empty() {
        sqlx::query("DELETE FROM movie_genres WHERE movie_id = ANY($1)")
            .bind(&changed)
            .execute(&mut **tx)
            .await?;
        let changed: std::collections::HashSet<i64> = changed.into_iter().collect();
        let pairs: Vec<(i64, &str)> = m
            .iter()
            .filter(|e| !e.deleted && changed.contains(&(e.movie_id as i64)))
            .flat_map(|e| e.genres.iter().map(move |g| (e.movie_id as i64, g.as_str())))
            .collect();
        let query = sqlx::query(
            "INSERT INTO movie_genres (movie_id, genre) SELECT * FROM UNNEST($1::int8[], $2::text[]) ON CONFLICT DO NOTHING",
        )
        .bind(pairs.iter().map(|p| p.0).collect::<Vec<_>>())
        .bind(pairs.iter().map(|p| p.1).collect::<Vec<_>>());
        execute(tx, query).await?;
        return Ok(counted(batch.movies.len(), changed.len() as u64));
    }
    Ok(counted(batch.movies.len(), 0))
}

async fn users(tx: &mut Tx<'_>, batch: &Batch) -> Result<IngestCounts, sqlx::Error> {
    let u = latest_per_key(&batch.users, |e| e.user_id, |e| (e.occurred_at_ms, e.event_id.as_str()));
    if u.is_empty() {
        return Ok(IngestCounts::default());
    }
    let query = sqlx::query(
        "INSERT INTO users_dim (user_id, first_seen_day, favourite_genres, deleted, updated_at_ms, event_id) \
         SELECT * FROM UNNEST($1::int8[], $2::int4[], $3::text[], $4::int2[], $5::int8[], $6::text[]) \
         ON CONFLICT (user_id) DO UPDATE SET favourite_genres = EXCLUDED.favourite_genres, \
             deleted = EXCLUDED.deleted, updated_at_ms = EXCLUDED.updated_at_ms, event_id = EXCLUDED.event_id \
         WHERE EXCLUDED.updated_at_ms > users_dim.updated_at_ms \
            OR (EXCLUDED.updated_at_ms = users_dim.updated_at_ms AND EXCLUDED.event_id > users_dim.event_id)",
    )
    .bind(u.iter().map(|e| e.user_id as i64).collect::<Vec<_>>())
    .bind(u.iter().map(|e| day_of_ms(e.occurred_at_ms)).collect::<Vec<_>>())
    .bind(u.iter().map(|e| e.favourite_genres.as_ref().map(|g| g.join("|"))).collect::<Vec<_>>())
    .bind(u.iter().map(|e| i16::from(e.favourite_genres.is_none())).collect::<Vec<_>>())
    .bind(u.iter().map(|e| e.occurred_at_ms).collect::<Vec<_>>())
    .bind(u.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>());
    Ok(counted(batch.users.len(), execute(tx, query).await?))
}

/// Days users were active, and each user's first day (new users).
async fn user_days(tx: &mut Tx<'_>, batch: &Batch) -> Result<(), sqlx::Error> {
    let pairs = batch.active_user_days();
    if pairs.is_empty() {
        return Ok(());
    }
    let query = sqlx::query(
        "INSERT INTO user_days (day, user_id) SELECT * FROM UNNEST($1::int4[], $2::int8[]) ON CONFLICT DO NOTHING",
    )
    .bind(pairs.iter().map(|p| p.0).collect::<Vec<_>>())
    .bind(pairs.iter().map(|p| p.1 as i64).collect::<Vec<_>>());
    execute(tx, query).await?;
    let mut first: BTreeMap<u64, i32> = BTreeMap::new();
    for (day, user) in pairs {
        first.entry(user).and_modify(|d| *d = (*d).min(day)).or_insert(day);
    }
    let query = sqlx::query(
        "INSERT INTO users_dim (user_id, first_seen_day) SELECT * FROM UNNEST($1::int8[], $2::int4[]) \
         ON CONFLICT (user_id) DO UPDATE SET first_seen_day = EXCLUDED.first_seen_day \
         WHERE EXCLUDED.first_seen_day < users_dim.first_seen_day",
    )
    .bind(first.keys().map(|&u| u as i64).collect::<Vec<_>>())
    .bind(first.values().copied().collect::<Vec<_>>());
    execute(tx, query).await?;
    Ok(())
}

async fn models(tx: &mut Tx<'_>, batch: &Batch) -> Result<IngestCounts, sqlx::Error> {
    let m = &batch.models;
    if m.is_empty() {
        return Ok(IngestCounts::default());
    }
    let query = sqlx::query(
        "INSERT INTO model_versions (version, kind, dataset, trained_at_ms, metrics, first_seen_at_ms) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::int8[]) \
         ON CONFLICT (version) DO NOTHING",
    )
    .bind(m.iter().map(|e| e.version.as_str()).collect::<Vec<_>>())
    .bind(m.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
    .bind(m.iter().map(|e| e.dataset.as_str()).collect::<Vec<_>>())
    .bind(m.iter().map(|e| e.trained_at_ms).collect::<Vec<_>>())
    .bind(m.iter().map(|e| serde_json::to_string(&e.metrics).unwrap_or_default()).collect::<Vec<_>>())
    .bind(m.iter().map(|e| e.seen_at_ms).collect::<Vec<_>>());
    Ok(counted(m.len(), execute(tx, query).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: i16, weight: i16, sign: u16, dscale: i16, digits: &[i16]) -> Vec<u8> {
        let mut out = Vec::new();
        for word in [ndigits, weight, sign as i16, dscale].iter().chain(digits) {
            out.extend_from_slice(&word.to_be_bytes());
        }
        out
    }

    #[test]
    fn numerics_decode_to_integers_or_floats() {
        assert_eq!(decode_numeric(&numeric(2, 1, 0, 0, &[1234, 5678])), Some(Value::Int(12_345_678)));
        assert_eq!(decode_numeric(&numeric(1, 2, 0, 0, &[7])), Some(Value::Int(700_000_000)));
        assert_eq!(decode_numeric(&numeric(2, 0, 0x4000, 1, &[1, 5000])), Some(Value::Float(-1.5)));
        assert_eq!(decode_numeric(&numeric(0, 0, 0, 0, &[])), Some(Value::Int(0)));
    }
}
