-- The embedded Notary server's TUF metadata (storage.MetaStore) and its changefeed.

-- Every version ever published of every role of every GUN. The current file of
-- a role is its highest version.
CREATE TABLE tuf_files (
    id         INTEGER PRIMARY KEY,
    gun        TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    sha256     TEXT    NOT NULL,          -- lowercase hex sha256 of data
    data       BLOB    NOT NULL,
    created_at TEXT    NOT NULL,
    -- The unique index also serves current lookups:
    -- WHERE gun = ? AND role = ? ORDER BY version DESC LIMIT 1.
    UNIQUE (gun, role, version)
);
CREATE INDEX tuf_files_checksum ON tuf_files(gun, role, sha256);

-- Notary's changefeed: one "update" per stored timestamp, one "deletion" per
-- GUN deleted. AUTOINCREMENT: ids are never reused, clients page by them.
CREATE TABLE tuf_changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    gun        TEXT    NOT NULL,
    version    INTEGER NOT NULL DEFAULT 0,
    sha256     TEXT    NOT NULL DEFAULT '',
    category   TEXT    NOT NULL CHECK (category IN ('update', 'deletion')),
    created_at TEXT    NOT NULL
);
CREATE INDEX tuf_changes_gun ON tuf_changes(gun, id);
