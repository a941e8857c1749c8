package store

// Several trustdeck replicas on one database (migration 016): per-GUN write
// locks, the change log the replicas' caches follow, and leases for the
// background work that must run on one replica at a time. Every query here
// is plain SQL both SQLite and PostgreSQL accept; GUNTx says why one GUN's
// transactions exclude each other on both.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"
)

// Topics of the change log: what kind of thing changed. Keys are a GUN
// (TopicTUF), a user name (TopicUser) or "namespace/name" (TopicCatalog,
// TopicRegistry).
const (
	TopicTUF = "tuf" // the embedded Notary server's trust data of a GUN
	// TopicTUFDeleted: a GUN's trust data was deleted (readers forget the
	// root they trusted: the next may start a new chain).
	TopicTUFDeleted = "tuf-deleted"
	TopicCatalog    = "catalog"  // a catalog entry was created or deleted
	TopicUser       = "user"     // what an account may do or how it signs in
	TopicRegistry   = "registry" // a repository's registry state
)

// ReplicaID names this Store among the processes sharing its database:
// host, process and a random part (a restarted process is another
// replica). It is the origin of the changes it records and the holder of
// the leases it takes.
func (s *Store) ReplicaID() string {
	s.replicaOnce.Do(func() {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		rand.Read(b)
		s.replica = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
	})
	return s.replica
}

// replicaLeasePrefix starts the name of each replica's liveness lease.
const replicaLeasePrefix = "replica/"

// ReplicaLease is the name of the lease a replica holds while it lives
// (renewed like any lease): work it owns in the database, such as a
// migration run, is taken as interrupted once the lease expired.
func ReplicaLease(replicaID string) string { return replicaLeasePrefix + replicaID }

// gunTxSlots bounds the GUN transactions of a process that are open or
// waiting to begin, below the pool's connections.
var gunTxSlots = make(chan struct{}, maxConns/2)

// Tx is a transaction holding one GUN's write lock (GUNTx).
type Tx struct {
	s   *Store
	tx  *sql.Tx
	ctx context.Context
	gun string
}

// GUNTx runs fn in one transaction holding gun's write lock and commits if
// fn returns nil. Everything that writes a GUN's trust data, or decides on
// it (admitting an update, removing a catalog entry), runs in one. fn may
// run more than once (a database that aborts conflicting transactions has
// them run again): it must have no effect outside the transaction.
//
// The lock is the transaction itself, across every process sharing the
// database. On SQLite tx begins IMMEDIATE (the DSN's _txlock=immediate),
// which takes the database's write lock at BEGIN, so writing transactions
// of every process run one at a time. On PostgreSQL every transaction of
// the store runs SERIALIZABLE (tx), so of two GUN transactions that read
// and write the same rows one is aborted and run again, and the second run
// reads what the first wrote: no update is lost and a removal cannot race a
// write. An advisory lock would not spare those runs: under SERIALIZABLE
// the snapshot is taken by the lock's own statement, before the lock is
// granted.
func (s *Store) GUNTx(ctx context.Context, gun string, fn func(*Tx) error) error {
	// fn may read through other connections of the pool (the server keys
	// an update signs with): leave some free of writers waiting to begin.
	select {
	case gunTxSlots <- struct{}{}:
		defer func() { <-gunTxSlots }()
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.tx(ctx, func(t *sql.Tx) error {
		return fn(&Tx{s: s, tx: t, ctx: ctx, gun: gun})
	})
}

// TUF is the TUF metadata store reading and writing in this transaction.
func (t *Tx) TUF() *TUFStore {
	return &TUFStore{st: t.s, in: t}
}

// RepositoryExists reports whether namespace/name is in the catalog.
func (t *Tx) RepositoryExists(namespace, name string) (bool, error) {
	var one int
	err := t.tx.QueryRowContext(t.ctx, "SELECT 1 FROM repositories WHERE namespace = ? AND name = ?",
		namespace, name).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// recordChange numbers a change and logs it, in tx: the other replicas
// forget what they cached of it once they read the log (Changes).
func (s *Store) recordChange(ctx context.Context, tx *sql.Tx, topic, key string) error {
	var seq int64
	if err := tx.QueryRowContext(ctx, "UPDATE cluster_seq SET seq = seq + 1 WHERE id = 1 RETURNING seq").Scan(&seq); err != nil {
		return fmt.Errorf("record change: %w", err)
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO cluster_changes(seq, topic, key, origin, created_at) VALUES (?, ?, ?, ?, ?)",
		seq, topic, key, s.ReplicaID(), now())
	if err != nil {
		return fmt.Errorf("record change: %w", err)
	}
	return nil
}

// RecordChange logs a change in a transaction of its own, for writes that
// did not record theirs in their own transaction.
func (s *Store) RecordChange(ctx context.Context, topic, key string) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return s.recordChange(ctx, tx, topic, key) })
}

// Change is one entry of the change log.
type Change struct {
	Seq    int64
	Topic  string
	Key    string
	Origin string // ReplicaID of the writer
}

// ChangeSeq is the number of the newest change (0: none yet): one row read
// by primary key, what replicas poll.
func (s *Store) ChangeSeq(ctx context.Context) (int64, error) {
	var seq int64
	err := s.prepared(ctx, "SELECT seq FROM cluster_seq WHERE id = 1").QueryRowContext(ctx).Scan(&seq)
	return seq, err
}

// Changes returns up to limit changes after seq after, oldest first.
// Numbers are dense: a first change numbered beyond after+1 means the ones
// between were pruned.
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]Change, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, topic, key, origin FROM cluster_changes
		WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var c Change
		if err := rows.Scan(&c.Seq, &c.Topic, &c.Key, &c.Origin); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// PruneChanges deletes the changes logged before before.
func (s *Store) PruneChanges(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, "DELETE FROM cluster_changes WHERE created_at < ?", formatTime(before))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// TakeLease takes or renews the lease name for holder until now+ttl. It
// succeeds when nobody holds it, holder does, or its holder let it expire;
// ok false means another replica holds it. Expiry times are the replicas'
// clocks: keep ttl well above their skew.
func (s *Store) TakeLease(ctx context.Context, name, holder string, ttl time.Duration) (ok bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		ok = false
		at := time.Now()
		res, err := tx.ExecContext(ctx, `UPDATE leases SET holder = ?, expires_at = ?
			WHERE name = ? AND (holder = ? OR expires_at < ?)`,
			holder, formatTime(at.Add(ttl)), name, holder, formatTime(at))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			ok = n > 0
			return err
		}
		var one int
		err = tx.QueryRowContext(ctx, "SELECT 1 FROM leases WHERE name = ?", name).Scan(&one)
		if err == nil {
			return nil // held by another
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO leases(name, holder, expires_at) VALUES (?, ?, ?)",
			name, holder, formatTime(at.Add(ttl))); err != nil {
			return err
		}
		ok = true
		return nil
	})
	if isUniqueViolation(err) {
		return false, nil // another took it first
	}
	return ok, err
}

// ReleaseLease gives up holder's lease name (nothing if another holds it).
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM leases WHERE name = ? AND holder = ?", name, holder)
	return err
}

// Lease is who holds a lease until when.
type Lease struct {
	Name, Holder string
	Expires      time.Time
}

// Leases lists the leases, held or expired.
func (s *Store) Leases(ctx context.Context) ([]Lease, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT name, holder, expires_at FROM leases ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Lease
	for rows.Next() {
		var l Lease
		var exp string
		if err := rows.Scan(&l.Name, &l.Holder, &exp); err != nil {
			return nil, err
		}
		l.Expires = parseTime(exp)
		out = append(out, l)
	}
	return out, rows.Err()
}
