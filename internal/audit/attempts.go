package audit

import (
	"context"
	"time"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/store"
)

// Changes of trust data trustdeck sends are recorded before they are sent
// (Begin) and resolved once their outcome is known (Resolve), so that a
// change whose reply was lost is still audited, once, with its actor:
//
//   - a reply arrives: applied (the event is recorded) or refused (nothing);
//   - no reply (a timeout, a connection reset after the request was sent):
//     unknown, until the server's own record of the change is matched to the
//     attempt (Matched: the external server's changefeed, by GUN and the
//     checksums of what was uploaded; MatchWritten and MatchDeletion: the
//     embedded server's hooks, by GUN and the versions written) or a retry
//     finds the change in place (Settle). Then the event is recorded.
//
// Whichever comes first records the event; the others find it recorded.

// Journal is what the services that change trust data (signers, removal)
// need of the log: Log implements it. They record no audit event of their
// own: the journal records it, once the change took effect.
type Journal interface {
	Begin(ctx context.Context, a Attempt) (int64, error)
	Resolve(ctx context.Context, id int64, o Outcome)
	Settle(ctx context.Context, gun, action, subject string) bool
}

// OutcomeOf is the outcome a change's domain error tells: none, applied;
// errs.OutcomeUnknown (sent, not answered), unknown; any other, refused.
func OutcomeOf(err error) Outcome {
	switch {
	case err == nil:
		return Applied
	case errs.KindOf(err) == errs.OutcomeUnknown:
		return Unknown
	}
	return Refused
}

// Attempt is a change trustdeck sends: the audit event it stands for (Actor,
// Action, GUN, Subject, Detail) and what it uploads.
type Attempt = store.WriteAttempt

// File is one metadata file an update uploads.
type File = store.AttemptFile

// Outcome is what became of sending an attempt.
type Outcome = string

// Outcomes given to Resolve.
const (
	Applied Outcome = store.AttemptApplied
	Refused Outcome = store.AttemptRefused
	Unknown Outcome = store.AttemptUnknown
)

// AttemptWindow is how long an attempt waits to be matched with the
// server's record of its change, or settled by a retry.
const AttemptWindow = 24 * time.Hour

// SplitGUNsWith sets how the namespace and name of an attempt's repository
// are found from its GUN (catalog.Service.SplitGUN).
func (l *Log) SplitGUNsWith(split func(gun string) (namespace, name string, ok bool)) {
	l.split = split
}

// Begin records a change before it is sent and returns its ID for Resolve.
// Nothing may be sent when Begin fails: the change could not be audited.
func (l *Log) Begin(ctx context.Context, a Attempt) (int64, error) {
	if l.split != nil {
		a.Namespace, a.Name, _ = l.split(a.GUN)
	}
	return l.st.InsertAttempt(context.WithoutCancel(ctx), a)
}

// Resolve records what became of sending attempt id.
func (l *Log) Resolve(ctx context.Context, id int64, o Outcome) {
	a, err := l.st.ResolveAttempt(context.WithoutCancel(ctx), id, o)
	l.settled("resolve", id, a, err)
	if o == Unknown && err == nil && a == nil {
		l.log.Warn("no reply to a change of trust data: it may or may not have been applied; "+
			"the server's record of changes or a retry will tell", "attempt", id)
	}
}

// Open lists gun's attempts of one kind (deletion or update) that no record
// of the server was matched to yet, oldest first: those waiting for a
// reply, applied, or whose reply was lost.
func (l *Log) Open(ctx context.Context, gun string, deletion bool) ([]Attempt, error) {
	return l.st.OpenAttempts(ctx, gun, deletion, time.Now().Add(-AttemptWindow))
}

// Matched records that the server's record of a change is attempt id's.
func (l *Log) Matched(ctx context.Context, id int64) {
	a, err := l.st.MatchAttempt(context.WithoutCancel(ctx), id)
	l.settled("match", id, a, err)
}

// MatchWritten matches an update the embedded server stored for gun (every
// role and version written) to the oldest open attempt that uploaded those
// versions. It reports whether one matched.
func (l *Log) MatchWritten(ctx context.Context, gun string, written []File) bool {
	open, err := l.Open(ctx, gun, false)
	if err != nil {
		l.log.Error("cannot read the attempted changes of trust data", "gun", gun, "err", err)
		return false
	}
	for _, a := range open {
		if len(a.Files) > 0 && wrote(written, a.Files) {
			l.Matched(ctx, a.ID)
			return true
		}
	}
	return false
}

func wrote(written, files []File) bool {
	for _, f := range files {
		found := false
		for _, w := range written {
			found = found || (w.Role == f.Role && w.Version == f.Version)
		}
		if !found {
			return false
		}
	}
	return true
}

// MatchDeletion matches a deletion of gun's trust data to the oldest open
// deletion attempt of gun. It reports whether one matched (its event then
// stands for the deletion).
func (l *Log) MatchDeletion(ctx context.Context, gun string) bool {
	open, err := l.Open(ctx, gun, true)
	if err != nil {
		l.log.Error("cannot read the attempted deletions of trust data", "gun", gun, "err", err)
		return false
	}
	if len(open) == 0 {
		return false
	}
	l.Matched(ctx, open[0].ID)
	return true
}

// Settle is called by a retry that finds its change already in place
// (action on subject of gun): earlier attempts of it that the server did not
// answer are applied and their events recorded (once). It reports whether
// there was such an attempt lately: the change in place is then the one
// retried, rather than one never asked for (or already answered).
func (l *Log) Settle(ctx context.Context, gun, action, subject string) bool {
	found, recorded, err := l.st.SettleAttempts(context.WithoutCancel(ctx), gun, action, subject, time.Now().Add(-AttemptWindow))
	if err != nil {
		l.log.Error("cannot settle attempted changes of trust data", "gun", gun, "action", action, "err", err)
		return false
	}
	for _, a := range recorded {
		l.logged(a)
	}
	return found
}

// settled logs the outcome of settling attempt id.
func (l *Log) settled(op string, id int64, a *Attempt, err error) {
	if err != nil {
		l.log.Error("cannot record the outcome of a change of trust data", "op", op, "attempt", id, "err", err)
		return
	}
	if a != nil {
		l.logged(*a)
	}
}

func (l *Log) logged(a Attempt) {
	l.log.Info("audit", "action", a.Action, "gun", a.GUN, "actor", a.Actor, "detail", a.Detail, "attempt", a.ID)
}
