package trust

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/cryptoservice"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"

	"github.com/trustdeck/trustdeck/internal/errs"
)

// LoadAllowingExpiry reads the current trust data of gun the way Load does,
// except that metadata whose expiry has passed is accepted: it is for
// backing up repositories nobody has re-signed in time, never for showing
// what docker would trust. Everything else is verified as notary's client
// verifies it, with notary's own tuf.RepoBuilder: the root's certificates and
// self-signatures (trust on first use, as a fresh Load), the timestamp's
// signature, the snapshot against the timestamp's hashes and length, the root
// and targets against the snapshot's, every role's signatures and threshold,
// each delegation against its parent's keys and paths. Delegations whose
// signatures do not verify are left out and listed in SkippedRoles, as Load
// does; expired ones are kept. Each role's Raw is the file exactly as the
// server sent it. Repo.ExpiredRoles tells which roles had expired.
//
// It shares nothing with Load's cache: a backup never changes what the
// Reader trusts. Errors are those of Load.
func (r *Reader) LoadAllowingExpiry(ctx context.Context, gun string) (*Repo, error) {
	if gun == "" {
		return nil, errs.Invalidf("invalid_gun", "The repository name is empty.")
	}
	if err := ctx.Err(); err != nil {
		return nil, classify(gun, err, err)
	}
	remote, err := r.remote(gun)
	if err != nil {
		return nil, unreachable(gun, err)
	}
	rs := &readOnlyRemote{ctx: ctx, remote: remote}
	l := &treeLoad{
		get: func(ci tuf.ConsistentInfo) ([]byte, error) {
			// By checksum once the snapshot or timestamp lists it, as
			// notary's client asks.
			size := ci.Length()
			if size < 0 {
				size = notary.MaxDownloadSize
			}
			return rs.GetSized(ci.ConsistentName(), size)
		},
		builder: tuf.NewRepoBuilder(data.GUN(gun), cryptoservice.EmptyService, trustpinning.TrustPinConfig{}),
		cache:   store.NewMemoryStore(nil),
		failed: func(_ data.RoleName, err error) error {
			var threshold signed.ErrRoleThreshold
			if errors.As(err, &threshold) {
				return nil // badly signed delegation: skipped, as notary's client does
			}
			return err
		},
	}
	now := r.now()
	tr, err := l.run()
	if err != nil {
		var re *roleError
		if errors.As(err, &re) {
			err = re.err // classify looks at notary's own error types
		}
		return nil, classify(gun, err, ctx.Err())
	}
	repo, err := buildRepo(gun, tr, l.cache, now)
	if err != nil {
		return nil, classify(gun, err, nil)
	}
	return repo, nil
}

// ExpiredRoles lists the loaded roles whose expiry had passed when the data
// was verified (LoadedAt), in the order of Roles: role, version and expiry.
// Load refuses expired metadata, so only a Repo from LoadAllowingExpiry
// normally holds any.
func (r *Repo) ExpiredRoles() []RoleMeta {
	var out []RoleMeta
	for _, m := range r.Roles {
		if !r.LoadedAt.Before(m.Expires) {
			out = append(out, m)
		}
	}
	return out
}

// treeLoad runs notary's tuf.RepoBuilder over the metadata of one GUN, as
// notary's client loads it but for expiry, which it leaves to the caller:
// every role is loaded with allowExpired. LoadAllowingExpiry runs it over a
// Notary server, Verify over the files of an archive.
type treeLoad struct {
	// get returns a role's file; ci says what its parent lists for it.
	get     func(ci tuf.ConsistentInfo) ([]byte, error)
	builder tuf.RepoBuilder
	cache   *store.MemoryStore
	// root, if set, is root.json already verified and in the builder (see
	// Verify): run checks it against the snapshot's hashes and length.
	// Otherwise run loads root.json into the builder first.
	root []byte
	// failed is told of a delegation that did not load; it returns nil to go
	// on without it (and its own delegations), or an error to stop.
	failed func(role data.RoleName, err error) error
}

// roleError is the failure of one role in a treeLoad.
type roleError struct {
	role data.RoleName
	err  error
}

func (e *roleError) Error() string { return e.role.String() + ": " + e.err.Error() }
func (e *roleError) Unwrap() error { return e.err }

// run loads root (unless given), timestamp, snapshot, targets, then the
// delegations in the order notary's client visits them (pre-order, each
// parent's delegations in the order it lists them). Errors are *roleError.
func (l *treeLoad) run() (*tuf.Repo, error) {
	root := l.root
	if root == nil {
		var err error
		if root, err = l.fetch(data.CanonicalRootRole); err != nil {
			return nil, err
		}
	} else if err := l.cache.Set(data.CanonicalRootRole.String(), root); err != nil {
		return nil, err
	}
	if _, err := l.fetch(data.CanonicalTimestampRole); err != nil {
		return nil, err
	}
	snapshot, err := l.fetch(data.CanonicalSnapshotRole)
	if err != nil {
		return nil, err
	}
	// The builder checked the hashes of a root.json it loaded when it loaded
	// the snapshot; check its length too, and the hashes of one given.
	if err := checkLength(l.builder.GetConsistentInfo(data.CanonicalRootRole), root); err != nil {
		return nil, &roleError{data.CanonicalRootRole, err}
	}
	if l.root != nil {
		var sn data.SignedSnapshot // verified by the builder
		if err := json.Unmarshal(snapshot, &sn); err != nil {
			return nil, &roleError{data.CanonicalSnapshotRole, err}
		}
		if err := data.CheckHashes(root, data.CanonicalRootRole.String(), sn.Signed.Meta[data.CanonicalRootRole.String()].Hashes); err != nil {
			return nil, &roleError{data.CanonicalRootRole, err}
		}
	}

	toLoad := []data.DelegationRole{{BaseRole: data.BaseRole{Name: data.CanonicalTargetsRole}, Paths: []string{""}}}
	for len(toLoad) > 0 {
		role := toLoad[0]
		toLoad = toLoad[1:]
		if !l.builder.GetConsistentInfo(role.Name).ChecksumKnown() {
			continue // not in the snapshot: nothing current to load
		}
		raw, err := l.fetch(role.Name)
		if err != nil {
			if role.Name == data.CanonicalTargetsRole {
				return nil, err
			}
			if err := l.failed(role.Name, err.(*roleError).err); err != nil {
				return nil, &roleError{role.Name, err}
			}
			continue
		}
		var t data.SignedTargets
		if err := json.Unmarshal(raw, &t); err != nil {
			return nil, &roleError{role.Name, err}
		}
		toLoad = append(t.GetValidDelegations(role), toLoad...)
	}
	tr, _, err := l.builder.Finish()
	return tr, err
}

// fetch gets role's current file, checks its length and has the builder
// verify it, expiry aside.
func (l *treeLoad) fetch(role data.RoleName) ([]byte, error) {
	ci := l.builder.GetConsistentInfo(role)
	raw, err := l.get(ci)
	if err != nil {
		return nil, &roleError{role, err}
	}
	if role != data.CanonicalTimestampRole {
		if err := checkLength(ci, raw); err != nil {
			return nil, &roleError{role, err}
		}
	}
	if err := l.builder.Load(role, raw, 1, true); err != nil {
		return nil, &roleError{role, err}
	}
	if err := l.cache.Set(role.String(), raw); err != nil {
		return nil, &roleError{role, err}
	}
	return raw, nil
}

// lengthError is a file whose length is not the one its parent lists.
type lengthError struct {
	role         data.RoleName
	have, listed int64
}

func (e lengthError) Error() string {
	return fmt.Sprintf("%s is %d bytes long, but %d bytes are listed for it", e.role, e.have, e.listed)
}

// checkLength compares a file's length with the one its parent lists, if
// any (the timestamp's "length" is only notary's size limit).
func checkLength(ci tuf.ConsistentInfo, raw []byte) error {
	if ci.ChecksumKnown() && int64(len(raw)) != ci.Length() {
		return lengthError{role: ci.RoleName, have: int64(len(raw)), listed: ci.Length()}
	}
	return nil
}
