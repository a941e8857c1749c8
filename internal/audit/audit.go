// Package audit records who changed trust data and lists it back. Notary's
// own changefeed has no actor, so trustdeck keeps this log itself.
package audit

import (
	"context"
	"log/slog"
	"time"

	"github.com/trustdeck/trustdeck/internal/store"
)

// Actions recorded.
const (
	TrustUpdate    = "trust.update"
	TrustDelete    = "trust.delete"
	TrustRotateKey = "trust.rotate_key"
	RepoCreate     = "repository.create"
	RepoDelete     = "repository.delete"
)

// Event is one audited action.
type Event struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	GUN       string    `json:"gun,omitempty"`
	Namespace string    `json:"namespace,omitempty"`
	Name      string    `json:"name,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	Source    string    `json:"source"`
}

// Log is the audit service.
type Log struct {
	st    *store.Store
	log   *slog.Logger
	split func(gun string) (namespace, name string, ok bool)
}

// New returns the audit service.
func New(st *store.Store, log *slog.Logger) *Log { return &Log{st: st, log: log} }

// Record appends an event. A failure to record is logged, never hidden.
func (l *Log) Record(ctx context.Context, e Event) {
	err := l.st.InsertAudit(context.WithoutCancel(ctx), store.AuditEvent{
		At: e.At, Actor: e.Actor, Action: e.Action, GUN: e.GUN, Namespace: e.Namespace,
		Name: e.Name, Detail: e.Detail, Source: e.Source,
	})
	if err != nil {
		l.log.Error("cannot record audit event", "err", err, "action", e.Action, "gun", e.GUN, "actor", e.Actor)
		return
	}
	l.log.Info("audit", "action", e.Action, "gun", e.GUN, "actor", e.Actor, "detail", e.Detail)
}

// Query selects events (see store.AuditQuery).
type Query = store.AuditQuery

// List returns events newest first.
func (l *Log) List(ctx context.Context, q Query) ([]Event, error) {
	rows, err := l.st.ListAudit(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(rows))
	for _, r := range rows {
		out = append(out, Event{ID: r.ID, At: r.At, Actor: r.Actor, Action: r.Action, GUN: r.GUN,
			Namespace: r.Namespace, Name: r.Name, Detail: r.Detail, Source: r.Source})
	}
	return out, nil
}

// Trust management actions.
const (
	TrustInit       = "trust.initialise"
	SignerAdd       = "signer.add"
	SignerRevoke    = "signer.revoke"
	TagRevoke       = "tag.revoke"
	TrustRenew      = "trust.renew"
	TrustRotateRoot = "trust.rotate_root"
	KeyImport       = "key.import"
	KeyDelete       = "key.delete"
	KeyExport       = "key.export"
	UserKeyAdd      = "user_key.register"
	UserKeyDelete   = "user_key.delete"
)

// Account actions.
const (
	UserCreate        = "user.create"
	UserDisable       = "user.disable"
	UserEnable        = "user.enable"
	UserDelete        = "user.delete"
	UserPasswordReset = "user.password_reset"
	MemberSet         = "member.set"
	MemberRemove      = "member.remove"
)

// Migration off Docker Content Trust (internal/migration): each cosign or
// Notation signature a run writes, and the namespaces' signing keys.
const (
	MigrationSign    = "migration.sign"
	SigningKeyCreate = "signing_key.create"
	SigningKeyDelete = "signing_key.delete"
)
