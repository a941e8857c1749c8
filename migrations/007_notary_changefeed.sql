-- External Notary server (--notary-url): where trustdeck left off reading the
-- server's global changefeed, per server URL, so discovery resumes after a
-- restart (another URL starts from the beginning).
CREATE TABLE notary_changefeed (
    server         TEXT PRIMARY KEY,
    last_change_id TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

-- The last change the changefeed reported for each GUN: the repository
-- list's "last signed" in external mode (the embedded server's tuf_files
-- hold nothing then).
CREATE TABLE notary_gun_changes (
    server     TEXT NOT NULL,
    gun        TEXT NOT NULL,
    change_id  TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    category   TEXT NOT NULL,   -- update or deletion
    PRIMARY KEY (server, gun)
);
