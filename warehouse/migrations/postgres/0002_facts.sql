-- Facts by kind, dimensions kept current from their events, and the daily roll-ups that the
-- reports read. Times are epoch milliseconds; `day` is the UTC day number (days since
-- 1970-01-01) and `hour` the UTC hour number, derived at ingestion, so that report SQL groups
-- and filters on integers both databases index the same way.

ALTER TABLE activity_events ADD COLUMN IF NOT EXISTS occurred_at_ms BIGINT;
ALTER TABLE activity_events ADD COLUMN IF NOT EXISTS day INTEGER;
UPDATE activity_events SET occurred_at_ms = (extract(epoch FROM occurred_at) * 1000)::bigint,
                           day = floor(extract(epoch FROM occurred_at) / 86400)::int WHERE day IS NULL;
ALTER TABLE activity_events ALTER COLUMN occurred_at_ms SET NOT NULL;
ALTER TABLE activity_events ALTER COLUMN day SET NOT NULL;
CREATE INDEX IF NOT EXISTS activity_events_by_type_day ON activity_events (event_type, day);

CREATE TABLE rating_events (
    event_id       TEXT PRIMARY KEY,
    user_id        BIGINT NOT NULL,
    movie_id       BIGINT NOT NULL,
    rating         REAL NOT NULL,
    change         SMALLINT NOT NULL,
    occurred_at_ms BIGINT NOT NULL,
    day            INTEGER NOT NULL,
    received_at_ms BIGINT NOT NULL
);
CREATE INDEX rating_events_by_day ON rating_events (day);
CREATE INDEX rating_events_by_pair ON rating_events (user_id, movie_id);

CREATE TABLE recommendation_lists (
    event_id          TEXT PRIMARY KEY,
    recommendation_id TEXT NOT NULL,
    user_id           BIGINT,
    anonymous_id      TEXT,
    model_version     TEXT NOT NULL,
    source            TEXT NOT NULL,
    surface           TEXT NOT NULL,
    list_size         INTEGER NOT NULL,
    served_at_ms      BIGINT NOT NULL,
    day               INTEGER NOT NULL,
    received_at_ms    BIGINT NOT NULL
);
CREATE INDEX recommendation_lists_by_day ON recommendation_lists (day);
CREATE INDEX recommendation_lists_by_recommendation ON recommendation_lists (recommendation_id);

-- One row per movie shown; written only for newly stored lists.
CREATE TABLE impressions (
    recommendation_id TEXT NOT NULL,
    position          INTEGER NOT NULL,
    movie_id          BIGINT NOT NULL,
    user_id           BIGINT,
    model_version     TEXT NOT NULL,
    surface           TEXT NOT NULL,
    day               INTEGER NOT NULL
);
CREATE INDEX impressions_by_recommendation ON impressions (recommendation_id);

CREATE TABLE request_logs (
    event_id       TEXT PRIMARY KEY,
    route          TEXT NOT NULL,
    method         TEXT NOT NULL,
    status         SMALLINT NOT NULL,
    latency_ms     DOUBLE PRECISION NOT NULL,
    request_id     TEXT NOT NULL,
    occurred_at_ms BIGINT NOT NULL,
    day            INTEGER NOT NULL,
    hour           BIGINT NOT NULL
);
CREATE INDEX request_logs_by_hour ON request_logs (hour);

-- Dimensions: a row changes only for a newer event (time, then event id), so a redelivered or
-- late event changes nothing.
CREATE TABLE movies_dim (
    movie_id      BIGINT PRIMARY KEY,
    title         TEXT NOT NULL,
    year          INTEGER,
    genres        TEXT NOT NULL,
    deleted       SMALLINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    event_id      TEXT NOT NULL
);
CREATE TABLE movie_genres (
    movie_id BIGINT NOT NULL,
    genre    TEXT NOT NULL,
    PRIMARY KEY (movie_id, genre)
);

CREATE TABLE users_dim (
    user_id          BIGINT PRIMARY KEY,
    first_seen_day   INTEGER NOT NULL,
    favourite_genres TEXT,
    deleted          SMALLINT NOT NULL DEFAULT 0,
    updated_at_ms    BIGINT NOT NULL DEFAULT 0,
    event_id         TEXT NOT NULL DEFAULT ''
);

-- Model versions as serving reported them, with the offline metrics stored in the artifact.
CREATE TABLE model_versions (
    version          TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    dataset          TEXT NOT NULL,
    trained_at_ms    BIGINT NOT NULL,
    metrics          TEXT NOT NULL,
    first_seen_at_ms BIGINT NOT NULL
);

-- Roll-ups, each event counted once (only newly stored events add to them).
CREATE TABLE user_days (
    day     INTEGER NOT NULL,
    user_id BIGINT NOT NULL,
    PRIMARY KEY (day, user_id)
);
CREATE TABLE impressions_daily (
    day           INTEGER NOT NULL,
    model_version TEXT NOT NULL,
    surface       TEXT NOT NULL,
    position      INTEGER NOT NULL,
    impressions   BIGINT NOT NULL,
    PRIMARY KEY (day, model_version, surface, position)
);
CREATE TABLE movie_impressions_daily (
    day         INTEGER NOT NULL,
    movie_id    BIGINT NOT NULL,
    impressions BIGINT NOT NULL,
    PRIMARY KEY (day, movie_id)
);

-- Events per day and kind (rating, impression, click, view, search, play_trailer, request).
CREATE TABLE events_daily (
    day    INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    events BIGINT NOT NULL,
    PRIMARY KEY (day, kind)
);
-- Positive feedback (Gorse's positive feedback rate): what each signed-in user was shown each
-- day, whether they clicked it or rated it 4 or more that day, and the per-user-day totals.
CREATE TABLE user_day_shown (
    day      INTEGER NOT NULL,
    user_id  BIGINT NOT NULL,
    movie_id BIGINT NOT NULL,
    positive SMALLINT NOT NULL,
    PRIMARY KEY (day, user_id, movie_id)
);
CREATE TABLE user_day_positive (
    day      INTEGER NOT NULL,
    user_id  BIGINT NOT NULL,
    movie_id BIGINT NOT NULL,
    PRIMARY KEY (day, user_id, movie_id)
);
CREATE TABLE feedback_daily (
    day       INTEGER NOT NULL,
    user_id   BIGINT NOT NULL,
    shown     BIGINT NOT NULL,
    positives BIGINT NOT NULL,
    PRIMARY KEY (day, user_id)
);

-- Week (Monday) and month (first day) of every day to 2099-12-31.
CREATE TABLE calendar (
    day   INTEGER PRIMARY KEY,
    week  INTEGER NOT NULL,
    month INTEGER NOT NULL
);
INSERT INTO calendar (day, week, month)
SELECT d, d - ((d + 3) % 7), (date_trunc('month', DATE '1970-01-01' + d)::date - DATE '1970-01-01')
FROM generate_series(0, 47481) AS d;
