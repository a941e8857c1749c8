-- Changes of trust data trustdeck sends to the Notary server (publishes and
-- deletions), recorded before they are sent and resolved once their outcome
-- is known (internal/audit: Begin, Resolve). A reply may be lost after the
-- server applied the change: the attempt then stays "unknown" until the
-- server's own record of the change is matched to it (the external server's
-- changefeed, the embedded server's update hook) or a retry finds the change
-- in place. Its audit event (actor, action, detail) is recorded exactly once,
-- when the change is known to have taken effect.
CREATE TABLE write_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,          -- the audit action, e.g. signer.add, trust.delete
    gun         TEXT    NOT NULL,
    namespace   TEXT    NOT NULL DEFAULT '',
    name        TEXT    NOT NULL DEFAULT '',
    subject     TEXT    NOT NULL DEFAULT '', -- what a retry names: the signer, the tag
    detail      TEXT    NOT NULL DEFAULT '',
    kind        TEXT    NOT NULL CHECK (kind IN ('update', 'deletion')),
    files       TEXT    NOT NULL DEFAULT '[]', -- update: JSON [{"role","version","sha256"}] uploaded
    outcome     TEXT    NOT NULL DEFAULT 'pending'
                CHECK (outcome IN ('pending', 'applied', 'refused', 'unknown')),
    replied     INTEGER NOT NULL DEFAULT 0, -- the server answered it (applied or refused)
    matched     INTEGER NOT NULL DEFAULT 0, -- the server's record of the change was seen
    audited     INTEGER NOT NULL DEFAULT 0, -- its audit event is recorded
    resolved_at TEXT
);
CREATE INDEX write_attempts_gun ON write_attempts(gun, kind, id);
CREATE INDEX write_attempts_created ON write_attempts(created_at);
