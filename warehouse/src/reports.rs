//! The seven reports, over any [`Warehouse`]. Each is a few SQL statements both databases
//! run unchanged (window functions, `GROUPING SETS`, `PERCENTILE_CONT … WITHIN GROUP`,
//! `FETCH FIRST n ROWS ONLY`, `CASE WHEN EXISTS`, joins to the `calendar` table for week and
//! month buckets; `?` placeholders rendered by the adapter) and the arithmetic SQL has no
//! shared spelling for (Wilson intervals, Gini, novelty) done here on the grouped rows.
//!
//! Aggregates read the daily roll-ups the adapters maintain at ingestion (`events_daily`,
//! `impressions_daily`, `movie_impressions_daily`, `user_days`, `feedback_daily`), never the raw
//! impression rows, except the genre diversity of lists (the latest [`DIVERSITY_SAMPLE`] lists
//! of the range).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::{Row, Value, Warehouse, WarehouseError, format_day};

/// Lists whose genre diversity is measured: the latest of the range.
pub const DIVERSITY_SAMPLE: i64 = 10_000;

/// How rows are grouped in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    /// UTC days.
    Day,
    /// ISO weeks, starting Monday.
    Week,
    /// Calendar months.
    Month,
}

impl Bucket {
    /// Parses `day`, `week` or `month`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "day" => Some(Self::Day),
            "week" => Some(Self::Week),
            "month" => Some(Self::Month),
            _ => None,
        }
    }

    /// The `calendar` column of this bucket.
    fn column(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }
}

/// The days a report covers (inclusive day numbers) and its bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// First day.
    pub from: i32,
    /// Last day.
    pub to: i32,
    /// Grouping.
    pub bucket: Bucket,
}

/// One table of a report: named columns and rows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Table {
    /// The table's name in the report.
    pub name: &'static str,
    /// Column names.
    pub columns: Vec<&'static str>,
    /// Rows, one value per column.
    pub rows: Vec<Row>,
}

impl Table {
    fn new(name: &'static str, columns: &[&'static str]) -> Self {
        Self { name, columns: columns.to_vec(), rows: Vec::new() }
    }

    /// The rows as JSON objects keyed by column.
    pub fn objects(&self) -> Vec<serde_json::Map<String, serde_json::Value>> {
        self.rows
            .iter()
            .map(|row| {
                self.columns
                    .iter()
                    .zip(row)
                    .map(|(c, v)| ((*c).to_owned(), serde_json::to_value(v).unwrap_or_default()))
                    .collect()
            })
            .collect()
    }

    /// The table as CSV (RFC 4180: a header, fields with commas, quotes or newlines quoted).
    pub fn csv(&self) -> String {
        fn field(out: &mut String, text: &str) {
            if text.contains([',', '"', '\n', '\r']) {
                out.push('"');
                out.push_str(&text.replace('"', "\"\""));
                out.push('"');
            } else {
                out.push_str(text);
            }
        }
        let mut out = self.columns.join(",");
        out.push_str("\r\n");
        for row in &self.rows {
            for (i, value) in row.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match value {
                    Value::Null => {}
                    Value::Int(v) => out.push_str(&v.to_string()),
                    Value::Float(v) => out.push_str(&v.to_string()),
                    Value::Text(v) => field(&mut out, v),
                }
            }
            out.push_str("\r\n");
        }
        out
    }
}

/// A report: its tables.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// The report's name (`overview`, `funnel`, …).
    pub report: &'static str,
    /// Its tables, in order.
    pub tables: Vec<Table>,
}

impl Report {
    /// The table called `name`.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// The report names, in the order of the API.
pub const REPORTS: [&str; 7] =
    ["overview", "funnel", "feedback", "catalogue", "top-movies", "performance", "models"];

fn int(v: &Value) -> i64 {
    v.as_i64().or_else(|| v.as_f64().map(|f| f.round() as i64)).unwrap_or(0)
}

fn float(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn text(v: &Value) -> String {
    match v {
        Value::Text(t) => t.clone(),
        Value::Null => String::new(),
        other => int(other).to_string(),
    }
}

fn day_text(v: &Value) -> Value {
    Value::Text(format_day(int(v) as i32))
}

fn ratio(num: i64, den: i64) -> Value {
    if den == 0 { Value::Null } else { Value::Float(num as f64 / den as f64) }
}

/// The 95 % Wilson score interval of `successes` out of `trials` (`None` without trials).
pub fn wilson(successes: i64, trials: i64) -> Option<(f64, f64)> {
    if trials <= 0 {
        return None;
    }
    let (z, n) = (1.959_963_984_540_054_f64, trials as f64);
    let p = successes as f64 / n;
    let centre = p + z * z / (2.0 * n);
    let margin = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    let den = 1.0 + z * z / n;
    Some((((centre - margin) / den).max(0.0), ((centre + margin) / den).min(1.0)))
}

/// The Gini coefficient of non-negative `counts` (0: all equal; → 1: all on one).
pub fn gini(counts: &[i64]) -> f64 {
    let n = counts.len();
    let total: i64 = counts.iter().sum();
    if n == 0 || total == 0 {
        return 0.0;
    }
    let mut sorted = counts.to_vec();
    sorted.sort_unstable();
    let weighted: f64 = sorted.iter().enumerate().map(|(i, &c)| (i as f64 + 1.0) * c as f64).sum();
    (2.0 * weighted) / (n as f64 * total as f64) - (n as f64 + 1.0) / n as f64
}

struct Sql<'a, W> {
    warehouse: &'a W,
    range: Range,
}

impl<W: Warehouse> Sql<'_, W> {
    /// Runs `sql` whose `{b}` is the bucket column; `[from, to]` first, then `extra`.
    async fn run(&self, sql: &str, extra: &[Value]) -> Result<Vec<Row>, WarehouseError> {
        let sql = sql.replace("{b}", self.range.bucket.column());
        let mut params = vec![Value::Int(i64::from(self.range.from)), Value::Int(i64::from(self.range.to))];
        params.extend_from_slice(extra);
        self.warehouse.query(&sql, &params).await
    }
}

/// Report 1: Active users per bucket (and new users), events by type, the rating distribution, and
/// the range's daily / weekly / monthly actives.
pub async fn overview<W: Warehouse>(warehouse: &W, range: Range) -> Result<Report, WarehouseError> {
    let sql = Sql { warehouse, range };
    let active = sql
        .run(
            "SELECT c.{b}, COUNT(DISTINCT u.user_id) FROM user_days u JOIN calendar c ON c.day = u.day \
             WHERE u.day BETWEEN ? AND ? GROUP BY c.{b} ORDER BY c.{b}",
            &[],
        )
        .await?;
    let new = sql
        .run(
            "SELECT c.{b}, COUNT(*) FROM users_dim u JOIN calendar c ON c.day = u.first_seen_day \
             WHERE u.first_seen_day BETWEEN ? AND ? GROUP BY c.{b}",
            &[],
        )
        .await?;
    let new: HashMap<i64, i64> = new.iter().map(|r| (int(&r[0]), int(&r[1]))).collect();
    let mut users = Table::new("active_users", &["bucket", "active_users", "new_users"]);
    for row in &active {
        let bucket = int(&row[0]);
        users.rows.push(vec![
            day_text(&row[0]),
            Value::Int(int(&row[1])),
            Value::Int(new.get(&bucket).copied().unwrap_or(0)),
        ]);
    }

    // DAU (mean over the range's days), WAU and MAU (distinct users in the last 7 and 30 days).
    let windows = warehouse
        .query(
            "SELECT COUNT(*), COUNT(DISTINCT CASE WHEN day > ? THEN user_id END), \
                    COUNT(DISTINCT CASE WHEN day > ? THEN user_id END), COUNT(DISTINCT user_id) \
             FROM user_days WHERE day BETWEEN ? AND ?",
            &[
                Value::Int(i64::from(range.to) - 7),
                Value::Int(i64::from(range.to) - 30),
                Value::Int(i64::from(range.from)),
                Value::Int(i64::from(range.to)),
            ],
        )
        .await?;
    let days = i64::from(range.to - range.from + 1);
    let w = windows.first().cloned().unwrap_or_default();
    let mut summary = Table::new("summary", &["dau", "wau", "mau", "users", "stickiness"]);
    if w.len() == 4 {
        let dau = int(&w[0]) as f64 / days as f64;
        let mau = int(&w[2]);
        summary.rows.push(vec![
            Value::Float(dau),
            Value::Int(int(&w[1])),
            Value::Int(mau),
            Value::Int(int(&w[3])),
            if mau == 0 { Value::Null } else { Value::Float(dau / mau as f64) },
        ]);
    }

    let by_type = sql
        .run(
            "SELECT c.{b}, e.kind, SUM(e.events) FROM events_daily e JOIN calendar c ON c.day = e.day \
             WHERE e.day BETWEEN ? AND ? GROUP BY GROUPING SETS ((c.{b}, e.kind), (e.kind)) ORDER BY e.kind, c.{b}",
            &[],
        )
        .await?;
    let mut events = Table::new("events_by_type", &["bucket", "event_type", "events"]);
    for row in &by_type {
        // The grouping set without the bucket is the range's total ("all").
        let bucket = if row[0] == Value::Null { Value::Text("all".into()) } else { day_text(&row[0]) };
        events.rows.push(vec![bucket, Value::Text(text(&row[1])), Value::Int(int(&row[2]))]);
    }

    let ratings = sql
        .run(
            "SELECT CAST(rating AS DOUBLE PRECISION), COUNT(*) FROM rating_events \
             WHERE day BETWEEN ? AND ? AND change <> 3 GROUP BY rating ORDER BY rating",
            &[],
        )
        .await?;
    let total: i64 = ratings.iter().map(|r| int(&r[1])).sum();
    let mut distribution = Table::new("rating_distribution", &["rating", "ratings", "share"]);
    for row in &ratings {
        distribution.rows.push(vec![
            Value::Float(float(&row[0])),
            Value::Int(int(&row[1])),
            ratio(int(&row[1]), total),
        ]);
    }
    Ok(Report { report: "overview", tables: vec![summary, users, events, distribution] })
}

/// Clicks on recommended movies in the range: one per (list, position), with the list's model
/// version and surface, and whether the user rated the movie 4 or more afterwards.
const CLICKS: &str = "SELECT l.model_version, l.surface, a.position, COUNT(*) AS clicks, \
       SUM(CASE WHEN EXISTS (SELECT 1 FROM rating_events r WHERE r.user_id = a.user_id AND r.movie_id = a.movie_id \
                             AND r.occurred_at_ms >= a.at AND r.rating >= 4 AND r.change <> 3) THEN 1 ELSE 0 END) AS rated_high, \
       GROUPING(a.position) AS all_positions \
     FROM (SELECT recommendation_id, position, MIN(user_id) AS user_id, MIN(movie_id) AS movie_id, MIN(occurred_at_ms) AS at \
           FROM activity_events WHERE event_type = 'click' AND recommendation_id IS NOT NULL AND position IS NOT NULL \
             AND day BETWEEN ? AND ? GROUP BY recommendation_id, position) a \
     JOIN recommendation_lists l ON l.recommendation_id = a.recommendation_id \
     GROUP BY GROUPING SETS ((l.model_version, l.surface, a.position), (l.model_version, l.surface))";

/// Report 2: The recommendation funnel by model version and surface: impressions, clicks, CTR with
/// its 95 % Wilson interval, CTR by position, and the share of clicked recommendations rated
/// 4 or more afterwards.
pub async fn funnel<W: Warehouse>(warehouse: &W, range: Range) -> Result<Report, WarehouseError> {
    let sql = Sql { warehouse, range };
    let shown = sql
        .run(
            "SELECT model_version, surface, position, SUM(impressions), GROUPING(position) FROM impressions_daily \
             WHERE day BETWEEN ? AND ? \
             GROUP BY GROUPING SETS ((model_version, surface, position), (model_version, surface))",
            &[],
        )
        .await?;
    let clicks = sql.run(CLICKS, &[]).await?;
    // (version, surface, position or -1 for all) → (impressions, clicks, rated high).
    let mut cells: BTreeMap<(String, String, i64), (i64, i64, i64)> = BTreeMap::new();
    let position = |row: &Row, flag: usize| if int(&row[flag]) == 1 { -1 } else { int(&row[2]) };
    for row in &shown {
        cells.entry((text(&row[0]), text(&row[1]), position(row, 4))).or_default().0 += int(&row[3]);
    }
    for row in &clicks {
        let cell = cells.entry((text(&row[0]), text(&row[1]), position(row, 5))).or_default();
        cell.1 += int(&row[3]);
        cell.2 += int(&row[4]);
    }
    let columns = ["model_version", "surface", "impressions", "clicks", "ctr", "ctr_low", "ctr_high"];
    let mut by_version =
        Table::new("by_model_version", &[&columns[..], &["rated_4_plus_after_click"]].concat());
    let mut by_position = Table::new("by_position", &[&columns[..2], &["position"], &columns[2..]].concat());
    for ((version, surface, position), (impressions, clicks, rated)) in cells {
        let (low, high) = wilson(clicks, impressions)
            .map_or((Value::Null, Value::Null), |(l, h)| (Value::Float(l), Value::Float(h)));
        let stats = [Value::Int(impressions), Value::Int(clicks), ratio(clicks, impressions), low, high];
        let key = [Value::Text(version), Value::Text(surface)];
        if position < 0 {
            by_version.rows.push([&key[..], &stats[..], &[ratio(rated, clicks)]].concat());
        } else {
            by_position.rows.push([&key[..], &[Value::Int(position)], &stats[..]].concat());
        }
    }
    Ok(Report { report: "funnel", tables: vec![by_version, by_position] })
}

/// Report 3: Positive feedback rate per day (Gorse's online metric): for each user shown
/// recommendations that day, the share of the movies shown they clicked or rated 4 or more
/// that day, averaged over users.
pub async fn feedback<W: Warehouse>(warehouse: &W, range: Range) -> Result<Report, WarehouseError> {
    let rows = Sql { warehouse, range }
        .run(
            "SELECT day, AVG(CAST(positives AS DOUBLE PRECISION) / shown), COUNT(*), SUM(shown), SUM(positives) \
             FROM feedback_daily WHERE day BETWEEN ? AND ? AND shown > 0 GROUP BY day ORDER BY day",
            &[],
        )
        .await?;
    let mut table = Table::new(
        "positive_feedback_rate",
        &["day", "positive_feedback_rate", "users", "shown", "positives"],
    );
    for row in &rows {
        table.rows.push(vec![
            day_text(&row[0]),
            Value::Float(float(&row[1])),
            Value::Int(int(&row[2])),
            Value::Int(int(&row[3])),
            Value::Int(int(&row[4])),
        ]);
    }
    Ok(Report { report: "feedback", tables: vec![table] })
}

/// Report 4: The catalogue as recommended: coverage, Gini of impressions, popularity bias (share of
/// impressions on the 10 % most-rated movies against their share of ratings), novelty (mean
/// self-information of impressed movies, `-log2` of the share of raters who rated them) and
/// genre diversity within lists (mean distinct genres per list and mean list length, over the latest
/// [`DIVERSITY_SAMPLE`] lists).
pub async fn catalogue<W: Warehouse>(warehouse: &W, range: Range) -> Result<Report, WarehouseError> {
    let sql = Sql { warehouse, range };
    let shown = sql
        .run(
            "SELECT movie_id, SUM(impressions) FROM movie_impressions_daily WHERE day BETWEEN ? AND ? GROUP BY movie_id",
            &[],
        )
        .await?;
    let rated = sql
        .run(
            "SELECT movie_id, COUNT(*) FROM rating_events WHERE day BETWEEN ? AND ? AND change <> 3 GROUP BY movie_id",
            &[],
        )
        .await?;
    let raters = sql
        .run(
            "SELECT COUNT(DISTINCT user_id) FROM rating_events WHERE day BETWEEN ? AND ? AND change <> 3",
            &[],
        )
        .await?;
    let catalogue = warehouse.query("SELECT COUNT(*) FROM movies_dim WHERE deleted = 0", &[]).await?;
    let shown: HashMap<i64, i64> = shown.iter().map(|r| (int(&r[0]), int(&r[1]))).collect();
    let rated: HashMap<i64, i64> = rated.iter().map(|r| (int(&r[0]), int(&r[1]))).collect();
    let raters = raters.first().map_or(0, |r| int(&r[0]));
    // The catalogue: the movies dimension, else every movie rated or shown.
    let mut movies: Vec<i64> = shown.keys().chain(rated.keys()).copied().collect();
    movies.sort_unstable();
    movies.dedup();
    let catalogue_size = catalogue.first().map_or(0, |r| int(&r[0])).max(movies.len() as i64);

    let total_shown: i64 = shown.values().sum();
    let total_rated: i64 = rated.values().sum();
    let mut counts: Vec<i64> = movies.iter().map(|m| shown.get(m).copied().unwrap_or(0)).collect();
    counts.resize(catalogue_size as usize, 0);

    // The 10 % most-rated movies (at least one), ties broken by id.
    let mut by_ratings: Vec<(i64, i64)> = rated.iter().map(|(&m, &n)| (n, m)).collect();
    by_ratings.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let head = ((catalogue_size as f64 * 0.1).ceil() as usize).max(1).min(by_ratings.len());
    let head_movies = &by_ratings[..head];
    let head_shown: i64 = head_movies.iter().map(|(_, m)| shown.get(m).copied().unwrap_or(0)).sum();
    let head_rated: i64 = head_movies.iter().map(|(n, _)| n).sum();

    let novelty = if total_shown == 0 || raters == 0 {
        Value::Null
    } else {
        // Summed in movie order: the same data give the same bits.
        let bits: f64 = movies
            .iter()
            .filter_map(|m| Some((m, *shown.get(m)?)))
            .map(|(m, n)| {
                let p = (rated.get(m).copied().unwrap_or(0) as f64).max(0.5) / raters as f64;
                n as f64 * -(p.min(1.0)).log2()
            })
            .sum();
        Value::Float(bits / total_shown as f64)
    };

    let diversity = sql
        .run(
            "SELECT AVG(CAST(g.genres AS DOUBLE PRECISION)), AVG(CAST(g.movies AS DOUBLE PRECISION)), COUNT(*) \
             FROM (SELECT d.recommendation_id, COUNT(d.genre) AS genres, MAX(d.list_size) AS movies \
                   FROM (SELECT DISTINCT l.recommendation_id, l.list_size, mg.genre \
                         FROM (SELECT recommendation_id, list_size FROM recommendation_lists \
                               WHERE day BETWEEN ? AND ? AND list_size > 0 \
                               ORDER BY served_at_ms DESC, event_id FETCH FIRST ? ROWS ONLY) l \
                         JOIN impressions i ON i.recommendation_id = l.recommendation_id \
                         LEFT JOIN movie_genres mg ON mg.movie_id = i.movie_id) d \
                   GROUP BY d.recommendation_id) g",
            &[Value::Int(DIVERSITY_SAMPLE)],
        )
        .await?;
    let d = diversity.first().cloned().unwrap_or_default();

    let mut table = Table::new(
        "catalogue",
        &[
            "catalogue_movies",
            "movies_shown",
            "coverage",
            "impressions",
            "gini",
            "top_decile_impression_share",
            "top_decile_rating_share",
            "novelty_bits",
            "lists_sampled",
            "genres_per_list",
            "movies_per_list",
        ],
    );
    table.rows.push(vec![
        Value::Int(catalogue_size),
        Value::Int(shown.len() as i64),
        ratio(shown.len() as i64, catalogue_size),
        Value::Int(total_shown),
        Value::Float(gini(&counts)),
        ratio(head_shown, total_shown),
        ratio(head_rated, total_rated),
        novelty,
        Value::Int(d.get(2).map_or(0, int)),
        d.first().cloned().unwrap_or(Value::Null),
        d.get(1).cloned().unwrap_or(Value::Null),
    ]);
    Ok(Report { report: "catalogue", tables: vec![table] })
}

/// Report 5: The most-rated movies per bucket (optionally of one genre) and the rising movies: most
/// ratings in the range's last 7 days over the 7 before.
pub async fn top_movies<W: Warehouse>(
    warehouse: &W,
    range: Range,
    genre: Option<&str>,
    n: i64,
) -> Result<Report, WarehouseError> {
    let sql = Sql { warehouse, range };
    let (genre_filter, mut extra) = match genre {
        Some(g) => {
            (" AND r.movie_id IN (SELECT movie_id FROM movie_genres WHERE genre = ?)", vec![Value::from(g)])
        }
        None => ("", Vec::new()),
    };
    extra.push(Value::Int(n));
    let top = sql
        .run(
            &format!(
                "SELECT t.b, t.rn, t.movie_id, m.title, t.ratings, t.mean FROM ( \
                   SELECT c.{{b}} AS b, r.movie_id, COUNT(*) AS ratings, AVG(CAST(r.rating AS DOUBLE PRECISION)) AS mean, \
                          ROW_NUMBER() OVER (PARTITION BY c.{{b}} ORDER BY COUNT(*) DESC, r.movie_id) AS rn \
                   FROM rating_events r JOIN calendar c ON c.day = r.day \
                   WHERE r.day BETWEEN ? AND ? AND r.change <> 3{genre_filter} GROUP BY c.{{b}}, r.movie_id) t \
                 LEFT JOIN movies_dim m ON m.movie_id = t.movie_id WHERE t.rn <= ? ORDER BY t.b, t.rn"
            ),
            &extra,
        )
        .await?;
    let mut top_table = Table::new("top", &["bucket", "rank", "movie_id", "title", "ratings", "mean_rating"]);
    for row in &top {
        top_table.rows.push(vec![
            day_text(&row[0]),
            Value::Int(int(&row[1])),
            Value::Int(int(&row[2])),
            row[3].clone(),
            Value::Int(int(&row[4])),
            Value::Float(float(&row[5])),
        ]);
    }
    let split = i64::from(range.to) - 7;
    let mut params = vec![
        Value::Int(split),
        Value::Int(split),
        Value::Int(split - 7 + 1),
        Value::Int(i64::from(range.to)),
    ];
    if let Some(g) = genre {
        params.push(Value::from(g));
    }
    params.push(Value::Int(n));
    let rising = warehouse
        .query(
            &format!(
                "SELECT t.movie_id, m.title, t.this_week, t.last_week FROM ( \
                   SELECT r.movie_id, SUM(CASE WHEN r.day > ? THEN 1 ELSE 0 END) AS this_week, \
                          SUM(CASE WHEN r.day <= ? THEN 1 ELSE 0 END) AS last_week \
                   FROM rating_events r WHERE r.day BETWEEN ? AND ? AND r.change <> 3{genre_filter} \
                   GROUP BY r.movie_id) t LEFT JOIN movies_dim m ON m.movie_id = t.movie_id \
                 WHERE t.this_week > t.last_week \
                 ORDER BY t.this_week - t.last_week DESC, t.movie_id FETCH FIRST ? ROWS ONLY"
            ),
            &params,
        )
        .await?;
    let mut rising_table = Table::new("rising", &["movie_id", "title", "this_week", "last_week", "growth"]);
    for row in &rising {
        let (this, last) = (int(&row[2]), int(&row[3]));
        rising_table.rows.push(vec![
            Value::Int(int(&row[0])),
            row[1].clone(),
            Value::Int(this),
            Value::Int(last),
            if last == 0 { Value::Null } else { Value::Float(this as f64 / last as f64 - 1.0) },
        ]);
    }
    Ok(Report { report: "top-movies", tables: vec![top_table, rising_table] })
}

/// Days of hourly rows in the performance report: the range's last week.
pub const HOURLY_DAYS: i32 = 7;

/// Report 6: The gateway's requests per route over the range, and per route and hour over its
/// last [`HOURLY_DAYS`] days (a longer range would list thousands of hours): count, latency
/// p50 / p95 / p99, error rate (5xx) and rate-limited answers (429).
pub async fn performance<W: Warehouse>(warehouse: &W, range: Range) -> Result<Report, WarehouseError> {
    const STATS: &str = "COUNT(*), SUM(CASE WHEN status >= 500 THEN 1 ELSE 0 END), \
        SUM(CASE WHEN status = 429 THEN 1 ELSE 0 END), \
        PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY latency_ms), \
        PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY latency_ms), \
        PERCENTILE_CONT(0.99) WITHIN GROUP (ORDER BY latency_ms)";
    let by_route = Sql { warehouse, range }
        .run(&format!("SELECT route, {STATS} FROM request_logs WHERE day BETWEEN ? AND ? GROUP BY route ORDER BY route"), &[])
        .await?;
    let last_week = Range { from: range.from.max(range.to - HOURLY_DAYS + 1), ..range };
    let by_hour = Sql { warehouse, range: last_week }
        .run(
            &format!(
                "SELECT route, hour, {STATS} FROM request_logs WHERE day BETWEEN ? AND ? \
                 GROUP BY route, hour ORDER BY route, hour"
            ),
            &[],
        )
        .await?;
    let columns = ["route", "requests", "p50_ms", "p95_ms", "p99_ms", "error_rate", "rate_limited"];
    let stats = |row: &[Value]| {
        let requests = int(&row[0]);
        [
            Value::Int(requests),
            Value::Float(float(&row[3])),
            Value::Float(float(&row[4])),
            Value::Float(float(&row[5])),
            ratio(int(&row[1]), requests),
            Value::Int(int(&row[2])),
        ]
    };
    let mut routes = Table::new("by_route", &columns);
    for row in &by_route {
        routes.rows.push([&[Value::Text(text(&row[0]))][..], &stats(&row[1..])[..]].concat());
    }
    let mut hourly = Table::new("by_route_hour", &[&columns[..1], &["hour"], &columns[1..]].concat());
    for row in &by_hour {
        let hour = int(&row[1]);
        let label = format!("{}T{:02}:00:00Z", format_day((hour / 24) as i32), hour % 24);
        hourly
            .rows
            .push([&[Value::Text(text(&row[0])), Value::Text(label)][..], &stats(&row[2..])[..]].concat());
    }
    Ok(Report { report: "performance", tables: vec![routes, hourly] })
}

/// Report 7: Model versions: the offline metrics stored in each artifact beside the online CTR of
/// that version in the range (versions that served lists but were never reported by serving
/// have no offline metrics).
pub async fn models<W: Warehouse>(warehouse: &W, range: Range) -> Result<Report, WarehouseError> {
    let sql = Sql { warehouse, range };
    let known = warehouse
        .query("SELECT version, kind, dataset, trained_at_ms, metrics FROM model_versions ORDER BY trained_at_ms, version", &[])
        .await?;
    let shown = sql
        .run(
            "SELECT model_version, SUM(impressions) FROM impressions_daily WHERE day BETWEEN ? AND ? GROUP BY model_version",
            &[],
        )
        .await?;
    let clicks = sql
        .run(
            "SELECT l.model_version, COUNT(*) FROM (SELECT DISTINCT recommendation_id, position FROM activity_events \
               WHERE event_type = 'click' AND recommendation_id IS NOT NULL AND position IS NOT NULL AND day BETWEEN ? AND ?) a \
             JOIN recommendation_lists l ON l.recommendation_id = a.recommendation_id GROUP BY l.model_version",
            &[],
        )
        .await?;
    let shown: BTreeMap<String, i64> = shown.iter().map(|r| (text(&r[0]), int(&r[1]))).collect();
    let clicks: HashMap<String, i64> = clicks.iter().map(|r| (text(&r[0]), int(&r[1]))).collect();
    let mut table = Table::new(
        "model_versions",
        &[
            "model_version",
            "kind",
            "dataset",
            "trained_at",
            "offline_metrics",
            "impressions",
            "clicks",
            "ctr",
            "ctr_low",
            "ctr_high",
        ],
    );
    let mut row_for = |version: String, kind: Value, dataset: Value, trained: Value, metrics: Value| {
        let (n, c) = (shown.get(&version).copied().unwrap_or(0), clicks.get(&version).copied().unwrap_or(0));
        let (low, high) =
            wilson(c, n).map_or((Value::Null, Value::Null), |(l, h)| (Value::Float(l), Value::Float(h)));
        table.rows.push(vec![
            Value::Text(version),
            kind,
            dataset,
            trained,
            metrics,
            Value::Int(n),
            Value::Int(c),
            ratio(c, n),
            low,
            high,
        ]);
    };
    let mut listed = std::collections::HashSet::new();
    for row in &known {
        let version = text(&row[0]);
        listed.insert(version.clone());
        let trained = crate::day_of_ms(int(&row[3]));
        let metrics = Value::Text(text(&row[4]));
        row_for(version, row[1].clone(), row[2].clone(), Value::Text(format_day(trained)), metrics);
    }
    for version in shown.keys().filter(|v| !listed.contains(*v)).cloned().collect::<Vec<_>>() {
        row_for(version, Value::Null, Value::Null, Value::Null, Value::Null);
    }
    Ok(Report { report: "models", tables: vec![table] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_the_textbook_values() {
        // 10 of 100: [0.0552, 0.1744] (Wilson 1927; e.g. Newcombe 1998, table I style values).
        let (low, high) = wilson(10, 100).unwrap();
        assert!((low - 0.0552).abs() < 1e-4 && (high - 0.1744).abs() < 1e-4, "{low} {high}");
        let (low, high) = wilson(0, 10).unwrap();
        assert!(low == 0.0 && (high - 0.2775).abs() < 1e-4, "{high}");
        assert_eq!(wilson(0, 0), None);
    }

    #[test]
    fn gini_is_zero_when_equal_and_near_one_when_concentrated() {
        assert!(gini(&[5, 5, 5, 5]).abs() < 1e-12);
        assert!((gini(&[0, 0, 0, 10]) - 0.75).abs() < 1e-12);
        assert_eq!(gini(&[]), 0.0);
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let mut t = Table::new("t", &["a", "b"]);
        t.rows.push(vec![Value::Text("Heat, 1995".into()), Value::Int(3)]);
        t.rows.push(vec![Value::Text("say \"hi\"".into()), Value::Null]);
        assert_eq!(t.csv(), "a,b\r\n\"Heat, 1995\",3\r\n\"say \"\"hi\"\"\",\r\n");
    }
}
