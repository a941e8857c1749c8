-- Archived repositories (issue 13): trust data captured from a Notary server
-- or imported from a backup archive, verified as of the time it was read and
-- kept, file by file exactly as the server served it, after the server is
-- gone. Captures of one GUN accumulate (history); each later one records how
-- its root chains to the one before.
CREATE TABLE archives (
    id                     INTEGER PRIMARY KEY,
    gun                    TEXT    NOT NULL,
    source                 TEXT    NOT NULL CHECK (source IN ('capture', 'import')),
    notary_url             TEXT    NOT NULL DEFAULT '', -- the server read ('' when an imported archive does not say)
    captured_at            TEXT    NOT NULL,            -- when the trust data was read: expiry is evaluated as of it
    created_at             TEXT    NOT NULL,            -- when it entered trustdeck
    created_by             TEXT    NOT NULL,
    valid                  INTEGER NOT NULL CHECK (valid IN (0, 1)), -- every check passed as of captured_at
    trust_anchor           TEXT    NOT NULL,            -- what the root was checked against, in words
    root_key_ids           TEXT    NOT NULL DEFAULT '', -- root.json's root key IDs (docker's), space-separated
    root_canonical_key_ids TEXT    NOT NULL DEFAULT '', -- the same keys' canonical IDs (notary key list's)
    previous_id            INTEGER REFERENCES archives(id) ON DELETE SET NULL, -- the capture its root was checked against
    root_chain             TEXT    NOT NULL CHECK (root_chain IN ('first', 'same', 'rotated', 'broken')),
    root_chain_detail      TEXT    NOT NULL DEFAULT '',
    signed_tags            INTEGER NOT NULL DEFAULT 0,  -- docker's rows, for lists
    signers                INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX archives_gun ON archives(gun, captured_at);

-- The signed metadata of an archive: one row per role file (root, targets,
-- snapshot, timestamp, every delegation), the bytes the server served.
CREATE TABLE archive_files (
    archive_id INTEGER NOT NULL REFERENCES archives(id) ON DELETE CASCADE,
    role       TEXT    NOT NULL,
    content    BLOB    NOT NULL,
    PRIMARY KEY (archive_id, role)
) WITHOUT ROWID;
