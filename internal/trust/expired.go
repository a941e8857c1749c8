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
	l := &expiredLoad{
		rs:      &readOnlyRemote{ctx: ctx, remote: remote},
		builder: tuf.NewRepoBuilder(data.GUN(gun), cryptoservice.EmptyService, trustpinning.TrustPinConfig{}),
		cache:   store.NewMemoryStore(nil),
	}
	now := r.now()
	tr, err := l.run()
	if err != nil {
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

// expiredLoad is one run of LoadAllowingExpiry.
type expiredLoad struct {
	rs      *readOnlyRemote
	builder tuf.RepoBuilder
	cache   *store.MemoryStore
}

// run loads root, timestamp, snapshot, targets, then the delegations in the
// order notary's client visits them (pre-order, each parent's delegations in
// the order it lists them).
func (l *expiredLoad) run() (*tuf.Repo, error) {
	root, err := l.fetch(data.CanonicalRootRole)
	if err != nil {
		return nil, err
	}
	for _, role := range []data.RoleName{data.CanonicalTimestampRole, data.CanonicalSnapshotRole} {
		if _, err := l.fetch(role); err != nil {
			return nil, err
		}
	}
	// The builder checked root.json's hashes against the snapshot when it
	// loaded the snapshot; check its length too.
	if err := checkLength(l.builder.GetConsistentInfo(data.CanonicalRootRole), root); err != nil {
		return nil, err
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
			var threshold signed.ErrRoleThreshold
			if role.Name != data.CanonicalTargetsRole && errors.As(err, &threshold) {
				continue // badly signed delegation: skipped, as notary's client does
			}
			return nil, err
		}
		var t data.SignedTargets
		if err := json.Unmarshal(raw, &t); err != nil {
			return nil, err
		}
		toLoad = append(t.GetValidDelegations(role), toLoad...)
	}
	tr, _, err := l.builder.Finish()
	return tr, err
}

// fetch downloads role's current file (by checksum once the snapshot or
// timestamp lists it, as notary's client asks), checks its length and has
// the builder verify it, expiry aside.
func (l *expiredLoad) fetch(role data.RoleName) ([]byte, error) {
	ci := l.builder.GetConsistentInfo(role)
	size := ci.Length()
	if size < 0 {
		size = notary.MaxDownloadSize
	}
	raw, err := l.rs.GetSized(ci.ConsistentName(), size)
	if err != nil {
		return nil, err
	}
	if role != data.CanonicalTimestampRole {
		if err := checkLength(ci, raw); err != nil {
			return nil, err
		}
	}
	if err := l.builder.Load(role, raw, 1, true); err != nil {
		return nil, err
	}
	if err := l.cache.Set(role.String(), raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// checkLength compares a file's length with the one its parent lists, if
// any (the timestamp's "length" is only notary's size limit).
func checkLength(ci tuf.ConsistentInfo, raw []byte) error {
	if ci.ChecksumKnown() && int64(len(raw)) != ci.Length() {
		return fmt.Errorf("%s is %d bytes long, but %d bytes are listed for it", ci.RoleName, len(raw), ci.Length())
	}
	return nil
}
