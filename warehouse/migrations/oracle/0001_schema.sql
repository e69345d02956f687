-- The Oracle schema: the tables, columns and indexes of the two PostgreSQL migrations
-- (0001_activity.sql, 0002_facts.sql) in one file. Applied by `OracleWarehouse::connect`, which
-- sends each statement as written: statements are separated by a line holding only `/` (as in
-- SQL*Plus, so the file also runs there), SQL without a trailing `;`, PL/SQL ending in `END;`.
-- DDL commits by itself: the version is recorded after the whole file succeeded.
--
-- Types: NUMBER(19) for BIGINT, NUMBER(10) for INTEGER, NUMBER(5) for SMALLINT, BINARY_FLOAT
-- for REAL, BINARY_DOUBLE for DOUBLE PRECISION, VARCHAR2 for TEXT (CLOB with an IS JSON check
-- for JSON), TIMESTAMP WITH TIME ZONE for TIMESTAMPTZ. VARCHAR2 lengths are ceilings that
-- PostgreSQL's TEXT does not have: ids 400 characters, labels 200, titles and routes 1000.
--
-- Oracle stores the empty string as NULL, so a text column that PostgreSQL declares NOT NULL
-- but that may hold '' (a list served without a model has model_version '', a deleted movie
-- has title '') is nullable here, unless it is a key (event ids, recommendation ids, model
-- versions, genres). impressions_daily keys on nullable text, so its key is a UNIQUE constraint
-- (Oracle treats equal non-NULL parts with NULLs in the same places as duplicates) and the
-- adapter's MERGE matches those columns with DECODE, which equates NULLs.
-- Names are kept to 30 characters (Oracle before 12.2).

-- Activity events from clients (views, clicks, searches), one row per event id.
CREATE TABLE activity_events (
    event_id          VARCHAR2(400 CHAR) NOT NULL,
    event_type        VARCHAR2(200 CHAR),
    occurred_at       TIMESTAMP WITH TIME ZONE NOT NULL,
    received_at       TIMESTAMP WITH TIME ZONE NOT NULL,
    user_id           NUMBER(19),
    anonymous_id      VARCHAR2(400 CHAR),
    session_id        VARCHAR2(400 CHAR),
    recommendation_id VARCHAR2(400 CHAR),
    movie_id          NUMBER(19),
    position          NUMBER(10),
    context           CLOB DEFAULT '{}' NOT NULL,
    occurred_at_ms    NUMBER(19) NOT NULL,
    day               NUMBER(10) NOT NULL,
    CONSTRAINT activity_events_pk PRIMARY KEY (event_id),
    CONSTRAINT activity_events_context_json CHECK (context IS JSON)
)
/
CREATE INDEX activity_events_by_day ON activity_events (occurred_at)
/
-- PostgreSQL's index is partial (recommendation_id IS NOT NULL); an Oracle B-tree index leaves
-- out rows whose key is all NULL, which is the same.
CREATE INDEX activity_events_by_rec ON activity_events (recommendation_id)
/
CREATE INDEX activity_events_by_type_day ON activity_events (event_type, day)
/

-- Facts by kind, dimensions kept current from their events, and the daily roll-ups that the
-- reports read. Times are epoch milliseconds; `day` is the UTC day number (days since
-- 1970-01-01) and `hour` the UTC hour number, derived at ingestion.
CREATE TABLE rating_events (
    event_id       VARCHAR2(400 CHAR) NOT NULL,
    user_id        NUMBER(19) NOT NULL,
    movie_id       NUMBER(19) NOT NULL,
    rating         BINARY_FLOAT NOT NULL,
    change         NUMBER(5) NOT NULL,
    occurred_at_ms NUMBER(19) NOT NULL,
    day            NUMBER(10) NOT NULL,
    received_at_ms NUMBER(19) NOT NULL,
    CONSTRAINT rating_events_pk PRIMARY KEY (event_id)
)
/
CREATE INDEX rating_events_by_day ON rating_events (day)
/
CREATE INDEX rating_events_by_pair ON rating_events (user_id, movie_id)
/

CREATE TABLE recommendation_lists (
    event_id          VARCHAR2(400 CHAR) NOT NULL,
    recommendation_id VARCHAR2(400 CHAR) NOT NULL,
    user_id           NUMBER(19),
    anonymous_id      VARCHAR2(400 CHAR),
    model_version     VARCHAR2(200 CHAR),
    source            VARCHAR2(200 CHAR),
    surface           VARCHAR2(200 CHAR),
    list_size         NUMBER(10) NOT NULL,
    served_at_ms      NUMBER(19) NOT NULL,
    day               NUMBER(10) NOT NULL,
    received_at_ms    NUMBER(19) NOT NULL,
    CONSTRAINT recommendation_lists_pk PRIMARY KEY (event_id)
)
/
CREATE INDEX recommendation_lists_by_day ON recommendation_lists (day)
/
CREATE INDEX recommendation_lists_by_rec ON recommendation_lists (recommendation_id)
/

-- One row per movie shown; written only for newly stored lists.
CREATE TABLE impressions (
    recommendation_id VARCHAR2(400 CHAR) NOT NULL,
    position          NUMBER(10) NOT NULL,
    movie_id          NUMBER(19) NOT NULL,
    user_id           NUMBER(19),
    model_version     VARCHAR2(200 CHAR),
    surface           VARCHAR2(200 CHAR),
    day               NUMBER(10) NOT NULL
)
/
CREATE INDEX impressions_by_recommendation ON impressions (recommendation_id)
/

CREATE TABLE request_logs (
    event_id       VARCHAR2(400 CHAR) NOT NULL,
    route          VARCHAR2(1000 CHAR),
    method         VARCHAR2(200 CHAR),
    status         NUMBER(5) NOT NULL,
    latency_ms     BINARY_DOUBLE NOT NULL,
    request_id     VARCHAR2(400 CHAR),
    occurred_at_ms NUMBER(19) NOT NULL,
    day            NUMBER(10) NOT NULL,
    hour           NUMBER(19) NOT NULL,
    CONSTRAINT request_logs_pk PRIMARY KEY (event_id)
)
/
CREATE INDEX request_logs_by_hour ON request_logs (hour)
/

-- Dimensions: a row changes only for a newer event (time, then event id), so a redelivered or
-- late event changes nothing.
CREATE TABLE movies_dim (
    movie_id      NUMBER(19) NOT NULL,
    title         VARCHAR2(1000 CHAR),
    year          NUMBER(10),
    genres        VARCHAR2(4000),
    deleted       NUMBER(5) NOT NULL,
    updated_at_ms NUMBER(19) NOT NULL,
    event_id      VARCHAR2(400 CHAR) NOT NULL,
    CONSTRAINT movies_dim_pk PRIMARY KEY (movie_id)
)
/
CREATE TABLE movie_genres (
    movie_id NUMBER(19) NOT NULL,
    genre    VARCHAR2(200 CHAR) NOT NULL,
    CONSTRAINT movie_genres_pk PRIMARY KEY (movie_id, genre)
)
/

CREATE TABLE users_dim (
    user_id          NUMBER(19) NOT NULL,
    first_seen_day   NUMBER(10) NOT NULL,
    favourite_genres VARCHAR2(4000),
    deleted          NUMBER(5) DEFAULT 0 NOT NULL,
    updated_at_ms    NUMBER(19) DEFAULT 0 NOT NULL,
    -- PostgreSQL's DEFAULT '' (a user first seen in activity, before any user event) is NULL.
    event_id         VARCHAR2(400 CHAR),
    CONSTRAINT users_dim_pk PRIMARY KEY (user_id)
)
/

-- Model versions as serving reported them, with the offline metrics stored in the artifact.
CREATE TABLE model_versions (
    version          VARCHAR2(200 CHAR) NOT NULL,
    kind             VARCHAR2(200 CHAR),
    dataset          VARCHAR2(1000 CHAR),
    trained_at_ms    NUMBER(19) NOT NULL,
    metrics          CLOB NOT NULL,
    first_seen_at_ms NUMBER(19) NOT NULL,
    CONSTRAINT model_versions_pk PRIMARY KEY (version),
    CONSTRAINT model_versions_metrics_json CHECK (metrics IS JSON)
)
/

-- Roll-ups, each event counted once (only newly stored events add to them).
CREATE TABLE user_days (
    day     NUMBER(10) NOT NULL,
    user_id NUMBER(19) NOT NULL,
    CONSTRAINT user_days_pk PRIMARY KEY (day, user_id)
)
/
CREATE TABLE impressions_daily (
    day           NUMBER(10) NOT NULL,
    model_version VARCHAR2(200 CHAR),
    surface       VARCHAR2(200 CHAR),
    position      NUMBER(10) NOT NULL,
    impressions   NUMBER(19) NOT NULL,
    CONSTRAINT impressions_daily_key UNIQUE (day, model_version, surface, position)
)
/
CREATE TABLE movie_impressions_daily (
    day         NUMBER(10) NOT NULL,
    movie_id    NUMBER(19) NOT NULL,
    impressions NUMBER(19) NOT NULL,
    CONSTRAINT movie_impressions_daily_pk PRIMARY KEY (day, movie_id)
)
/

-- Events per day and kind; the positive feedback rate's per-user-day data.
CREATE TABLE events_daily (
    day    NUMBER(10) NOT NULL,
    kind   VARCHAR2(200 CHAR) NOT NULL,
    events NUMBER(19) NOT NULL,
    CONSTRAINT events_daily_pk PRIMARY KEY (day, kind)
)
/
CREATE TABLE user_day_shown (
    day      NUMBER(10) NOT NULL,
    user_id  NUMBER(19) NOT NULL,
    movie_id NUMBER(19) NOT NULL,
    positive NUMBER(5) NOT NULL,
    CONSTRAINT user_day_shown_pk PRIMARY KEY (day, user_id, movie_id)
)
/
CREATE TABLE user_day_positive (
    day      NUMBER(10) NOT NULL,
    user_id  NUMBER(19) NOT NULL,
    movie_id NUMBER(19) NOT NULL,
    CONSTRAINT user_day_positive_pk PRIMARY KEY (day, user_id, movie_id)
)
/
CREATE TABLE feedback_daily (
    day       NUMBER(10) NOT NULL,
    user_id   NUMBER(19) NOT NULL,
    shown     NUMBER(19) NOT NULL,
    positives NUMBER(19) NOT NULL,
    CONSTRAINT feedback_daily_pk PRIMARY KEY (day, user_id)
)
/

-- Week (Monday) and month (first day) of every day to 2099-12-31 (day 47481).
CREATE TABLE calendar (
    day   NUMBER(10) NOT NULL,
    week  NUMBER(10) NOT NULL,
    month NUMBER(10) NOT NULL,
    CONSTRAINT calendar_pk PRIMARY KEY (day)
)
/
INSERT INTO calendar (day, week, month)
SELECT d, d - MOD(d + 3, 7), TRUNC(DATE '1970-01-01' + d, 'MM') - DATE '1970-01-01'
FROM (SELECT LEVEL - 1 AS d FROM dual CONNECT BY LEVEL <= 47482)
/
