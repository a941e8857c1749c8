-- Who changed trust data, and how: notary's changefeed records no actor.
CREATE TABLE audit_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,      -- e.g. trust.update, trust.delete, trust.rotate_key
    gun       TEXT NOT NULL DEFAULT '',
    namespace TEXT NOT NULL DEFAULT '',
    name      TEXT NOT NULL DEFAULT '',
    detail    TEXT NOT NULL DEFAULT '',
    source    TEXT NOT NULL DEFAULT 'trustdeck'
);
CREATE INDEX audit_events_repo ON audit_events(namespace, name, id);
CREATE INDEX audit_events_gun ON audit_events(gun, id);
