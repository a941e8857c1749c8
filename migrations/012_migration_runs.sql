-- Runs of the migration off Docker Content Trust (issue 12,
-- internal/migration): which repositories and formats a run signs, and one
-- row per planned item, updated as each is done, so that a page reload or a
-- restart of trustdeck loses nothing. A run left "running" by a process that
-- stopped is marked "interrupted" at the next start; it continues when it is
-- started again (its passphrase is never stored).
CREATE TABLE migration_runs (
    id           TEXT PRIMARY KEY,         -- random, 32 hex digits
    state        TEXT NOT NULL CHECK (state IN ('running', 'interrupted', 'done', 'failed')),
    formats      TEXT NOT NULL,            -- space-separated, sorted: cosign, notation
    repositories TEXT NOT NULL,            -- space-separated namespace/name, sorted
    namespaces   TEXT NOT NULL,            -- space-separated, sorted: who may see the run
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    started_by   TEXT NOT NULL,            -- who started it last (created or resumed it)
    started_at   TEXT NOT NULL,
    finished_at  TEXT,                     -- NULL until every item is done
    error        TEXT NOT NULL DEFAULT ''  -- why the run stopped, when not for one item
);
CREATE INDEX migration_runs_state ON migration_runs(state);

-- An item is one tag of the plan: a tag to sign, once per format (format set,
-- status pending until signed, skipped or failed), or a tag the plan skips
-- (format '', status skipped, reason drifted, missing, expired trust data or
-- not verifiable). A repository whose plan could not be made is one item
-- with tag '' and status failed.
CREATE TABLE migration_items (
    run_id        TEXT    NOT NULL REFERENCES migration_runs(id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    namespace     TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    tag           TEXT    NOT NULL,
    digest        TEXT    NOT NULL DEFAULT '',  -- sha256:<hex>: the DCT-signed digest
    format        TEXT    NOT NULL DEFAULT '',
    signers       TEXT    NOT NULL DEFAULT '',  -- DCT signers, comma-separated (provenance)
    trust_version INTEGER NOT NULL DEFAULT 0,   -- version of the targets role that signs the tag
    status        TEXT    NOT NULL CHECK (status IN ('pending', 'signed', 'skipped', 'failed')),
    reason        TEXT    NOT NULL DEFAULT '',
    message       TEXT    NOT NULL DEFAULT '',
    key_id        TEXT    NOT NULL DEFAULT '',  -- the key that signed (or would have)
    updated_at    TEXT    NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE INDEX migration_items_status ON migration_items(run_id, status);
