-- Several trustdeck replicas on one database (issue 14).

-- cluster_seq holds one row: the number of the newest change recorded in
-- cluster_changes. A transaction that records a change increments it first,
-- so changes are numbered in commit order (the row is the point where
-- concurrent recorders queue) and a replica polls this one row to learn
-- whether anything changed since it last looked.
CREATE TABLE cluster_seq (
    id  INTEGER NOT NULL PRIMARY KEY,
    seq INTEGER NOT NULL
);
INSERT INTO cluster_seq(id, seq) VALUES (1, 0);

-- cluster_changes: what changed, for the caches of the other replicas:
-- topic is what kind of thing (tuf, catalog, user, registry), key which
-- one (a GUN, a user name, namespace/name), origin the replica that wrote
-- it (it forgot its own caches already). Old rows are pruned; a replica
-- that finds its position pruned forgets every cache.
CREATE TABLE cluster_changes (
    seq        INTEGER NOT NULL PRIMARY KEY,
    topic      TEXT NOT NULL,
    key        TEXT NOT NULL,
    origin     TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- leases: background work that must run on one replica at a time (the
-- external Notary server's changefeed, the registry resync, …) runs where
-- the lease named after it is held: holder is the replica, expires_at
-- (RFC 3339, UTC, fixed width) when another may take it over unless the
-- holder renews it first.
CREATE TABLE leases (
    name       TEXT NOT NULL PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- runner: the replica (store.ReplicaID) executing a running migration run.
-- Each replica holds the lease 'replica/<its ID>' while it lives: a run
-- whose runner's lease expired was interrupted (the replica died), and the
-- replica recovering runs marks it so; a run on a live replica is left alone.
ALTER TABLE migration_runs ADD COLUMN runner TEXT NOT NULL DEFAULT '';

-- archive_jobs: the bulk captures of archived repositories as their
-- progress page shows them (state: the job as JSON), so that any replica
-- answers the page, whichever replica runs the capture. Kept an hour.
CREATE TABLE archive_jobs (
    id         TEXT NOT NULL PRIMARY KEY,
    actor      TEXT NOT NULL,
    started_at TEXT NOT NULL,
    done       INTEGER NOT NULL DEFAULT 0,
    state      TEXT NOT NULL
);
