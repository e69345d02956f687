-- Activity events from clients (views, clicks, searches), one row per event id.
CREATE TABLE IF NOT EXISTS activity_events (
    event_id          TEXT PRIMARY KEY,
    event_type        TEXT NOT NULL,
    occurred_at       TIMESTAMPTZ NOT NULL,
    received_at       TIMESTAMPTZ NOT NULL,
    user_id           BIGINT,
    anonymous_id      TEXT,
    session_id        TEXT,
    recommendation_id TEXT,
    movie_id          BIGINT,
    position          INTEGER,
    context           JSONB NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS activity_events_by_day ON activity_events (occurred_at);
CREATE INDEX IF NOT EXISTS activity_events_by_recommendation ON activity_events (recommendation_id) WHERE recommendation_id IS NOT NULL;
