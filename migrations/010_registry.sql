-- The registry's view of each catalog repository (issue 11): its tags as the
-- registry serves them, when they were last read, and the tag states counted
-- against the trust data, so the repository list shows and filters unsigned
-- and drifted tags without reading the registry or the trust data of every
-- repository.
CREATE TABLE registry_states (
    repository_id INTEGER PRIMARY KEY REFERENCES repositories(id) ON DELETE CASCADE,
    checked_at    TEXT,                    -- last successful read of its tags; NULL: never read
    attempted_at  TEXT    NOT NULL,        -- last read, successful or not
    failing_since TEXT,                    -- first failed read since the last success; NULL while reads succeed
    error         TEXT    NOT NULL DEFAULT '', -- the last read's failure, with its cause
    absent        TEXT    NOT NULL DEFAULT '', -- signed digests the registry does not hold, space-separated
    tags          INTEGER NOT NULL DEFAULT 0,  -- tags in the registry
    signed        INTEGER NOT NULL DEFAULT 0,  -- tag states (internal/trust TagStates), counted when
    unsigned      INTEGER NOT NULL DEFAULT 0,  -- the tags or the trust data change
    drifted       INTEGER NOT NULL DEFAULT 0,
    missing       INTEGER NOT NULL DEFAULT 0,
    counted_at    TEXT                     -- NULL: not counted yet
);
CREATE INDEX registry_states_attention ON registry_states(repository_id) WHERE unsigned > 0 OR drifted > 0;

CREATE TABLE registry_tags (
    repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    tag           TEXT    NOT NULL,
    digest        TEXT    NOT NULL,           -- sha256:<hex>, as docker resolves the tag
    media_type    TEXT    NOT NULL DEFAULT '',
    platforms     TEXT    NOT NULL DEFAULT '', -- an index's os/arch[/variant], space-separated
    etag          TEXT    NOT NULL DEFAULT '', -- the registry's ETag of the tag's manifest (conditional requests)
    PRIMARY KEY (repository_id, tag)
) WITHOUT ROWID;
