package signers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	store "github.com/theupdateframework/notary/storage"

	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/errs"
)

// change is what an operation changes, as its audit event names it: the
// actor, the action, what a retry of it names (subject: the signer, the
// tag), and the event's detail, made from the metadata uploaded (role name
// → file). An empty action records no event of its own (a second publish
// of an operation already audited).
type change struct {
	actor, action, subject string
	detail                 func(uploaded map[string][]byte) string
}

// saying is a detail that does not depend on what is uploaded.
func saying(detail string) func(map[string][]byte) string {
	return func(map[string][]byte) string { return detail }
}

// journaled is an operation's remote store: every upload is an attempt,
// recorded before it is sent and resolved by its reply.
type journaled struct {
	store.RemoteStore
	ctx     context.Context
	gun     string
	change  change
	journal audit.Journal
}

func (j journaled) SetMulti(metas map[string][]byte) error {
	a := audit.Attempt{Actor: j.change.actor, Action: j.change.action, GUN: j.gun, Subject: j.change.subject,
		Files: uploadedFiles(metas)}
	if j.change.detail != nil {
		a.Detail = j.change.detail(metas)
	}
	id, err := j.journal.Begin(j.ctx, a)
	if err != nil {
		return fmt.Errorf("signers: recording the change of %s before sending it: %w", j.gun, err)
	}
	err = j.RemoteStore.SetMulti(metas)
	outcome := audit.Applied
	if err != nil {
		outcome = audit.OutcomeOf(writeError(j.gun, "publish", err))
	}
	j.journal.Resolve(j.ctx, id, outcome)
	return err
}

// uploadedFiles are the roles, versions and checksums of an upload, by
// role name.
func uploadedFiles(metas map[string][]byte) []audit.File {
	out := make([]audit.File, 0, len(metas))
	for role, raw := range metas {
		sum := sha256.Sum256(raw)
		out = append(out, audit.File{Role: role, Version: signedOf(raw).Version, SHA256: hex.EncodeToString(sum[:])})
	}
	slices.SortFunc(out, func(a, b audit.File) int { return strings.Compare(a.Role, b.Role) })
	return out
}

// signedFields are the fields of any role's signed metadata read here.
type signedFields struct {
	Version int       `json:"version"`
	Expires time.Time `json:"expires"`
}

// signedOf reads the version and expiry of signed metadata (zero values when
// it cannot be read).
func signedOf(raw []byte) signedFields {
	var m struct {
		Signed signedFields `json:"signed"`
	}
	json.Unmarshal(raw, &m)
	return m.Signed
}

// unknownOutcome reports whether err says a change was sent without an
// answer.
func unknownOutcome(err error) bool { return errs.KindOf(err) == errs.OutcomeUnknown }
