-- The movie catalogue, its title search index and the outbox of MovieEvents.
-- pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE movies (
    id                   bigint      PRIMARY KEY CHECK (id > 0),
    title                text        NOT NULL CHECK (title <> ''),
    year                 integer     CHECK (year BETWEEN 1870 AND 2100),
    genres               text[]      NOT NULL DEFAULT '{}',
    imdb_id              text,
    tmdb_id              bigint,
    poster_key           text,
    poster_content_type  text,
    trailer_key          text,
    trailer_content_type text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    -- Full-text search over the title (English stemming); ranked with ts_rank.
    search               tsvector    GENERATED ALWAYS AS (to_tsvector('english', title)) STORED
);

CREATE INDEX movies_search_idx ON movies USING gin (search);
-- Trigram similarity for typos and partial words (`title % query`, similarity()).
CREATE INDEX movies_title_trgm_idx ON movies USING gin (title gin_trgm_ops);
-- Genre filter (`genres @> ARRAY[...]`).
CREATE INDEX movies_genres_idx ON movies USING gin (genres);
-- Year filter with keyset pagination by id.
CREATE INDEX movies_year_id_idx ON movies (year, id);

-- Transactional outbox: each change writes its encoded MovieEvent here in the same
-- transaction; a relay publishes rows in `seq` order and deletes them once the broker
-- acknowledged (at-least-once; consumers de-duplicate by event id).
CREATE TABLE movie_events_outbox (
    seq        bigserial   PRIMARY KEY,
    movie_id   bigint      NOT NULL,
    payload    bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
