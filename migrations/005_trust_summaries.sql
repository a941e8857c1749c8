-- Per-repository trust state for the repository list, refreshed after every
-- update and deletion so the list never loads metadata of every repository.
CREATE TABLE trust_summaries (
    repository_id      INTEGER PRIMARY KEY REFERENCES repositories(id) ON DELETE CASCADE,
    state              TEXT    NOT NULL CHECK (state IN ('none', 'unsigned', 'signed', 'error')),
    signed_tags        INTEGER NOT NULL DEFAULT 0,
    signers            INTEGER NOT NULL DEFAULT 0,
    nearest_expiry     TEXT,               -- RFC 3339, NULL without trust data
    nearest_expiry_role TEXT   NOT NULL DEFAULT '',
    last_signed        TEXT,               -- when targets data last changed
    error              TEXT    NOT NULL DEFAULT '',
    refreshed_at       TEXT    NOT NULL
);
CREATE INDEX trust_summaries_expiry ON trust_summaries(nearest_expiry);
CREATE INDEX trust_summaries_signed ON trust_summaries(last_signed);
