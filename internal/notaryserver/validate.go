package notaryserver

import (
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/server/storage"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	"github.com/theupdateframework/notary/tuf/validation"
)

// storeError is a failure to read stored metadata during validation: the
// server's fault, not the upload's, so it is answered 500.
type storeError struct{ err error }

func (e storeError) Error() string { return "reading stored metadata: " + e.err.Error() }
func (e storeError) Unwrap() error { return e.err }

// validateUpdate checks an upload against the stored trust data of gun by
// notary-server's rules and returns everything to store: the uploaded roles
// that passed, in the order root, targets (shallowest first), snapshot, and
// the snapshot and timestamp the server generated.
//
//   - The current root is loaded from the store. An uploaded root must carry
//     the current version or the next one and must be valid against the
//     current root (signatures of the old and the new root keys); it then
//     replaces it as the trust anchor. With no root stored nor uploaded there
//     is nothing to validate against.
//   - Targets roles are checked shallowest first, each against its parent,
//     which comes from the upload or else from the store. Beyond
//     notary-server, a delegated role may not add targets outside its
//     paths (see checkPaths).
//   - An uploaded snapshot must be signed by the snapshot key of the root
//     (so it is refused when the server holds that key); without one the
//     server signs the next snapshot, which fails if it does not hold the key.
//     Beyond notary-server, an uploaded snapshot must name the metadata the
//     server holds after the update (see checkSnapshot).
//   - The timestamp is always signed by the server: one in the upload is
//     refused (notary-server ignores it silently).
//
// Validation failures are the error types of tuf/validation; failures to read
// the store are storeError; other errors come from notary's TUF library.
// Version rollbacks of targets roles are left to the store's UpdateMany,
// which refuses any version not above the stored ones.
func validateUpdate(cs signed.CryptoService, gun data.GUN, uploaded map[data.RoleName]storage.MetaUpdate, st storage.MetaStore) ([]storage.MetaUpdate, error) {
	if _, ok := uploaded[data.CanonicalTimestampRole]; ok {
		return nil, validation.ErrValidation{Msg: "the timestamp is signed by the server and must not be uploaded"}
	}

	accepted := make([]storage.MetaUpdate, 0, len(uploaded)+2)
	builder := tuf.NewRepoBuilder(gun, cs, trustpinning.TrustPinConfig{})
	view := updateView{gun: gun, uploaded: uploaded, st: st}

	// root
	if err := loadStored(builder, st, gun, data.CanonicalRootRole); err != nil {
		return nil, err
	}
	if root, ok := uploaded[data.CanonicalRootRole]; ok {
		current := builder.GetLoadedVersion(data.CanonicalRootRole) // 1 when none is stored
		if root.Version != current && root.Version != current+1 {
			return nil, validation.ErrBadRoot{Msg: "a new root must have the current version or the next one: current " +
				itoa(int64(current)) + ", uploaded " + itoa(int64(root.Version))}
		}
		builder = builder.BootstrapNewBuilder()
		if err := builder.Load(data.CanonicalRootRole, root.Data, current, false); err != nil {
			return nil, validation.ErrBadRoot{Msg: err.Error()}
		}
		accepted = append(accepted, root)
	} else if !builder.IsLoaded(data.CanonicalRootRole) {
		return nil, validation.ErrValidation{Msg: "no pre-existing root and no root provided in update."}
	}

	// targets and delegations, parents before children
	var targetsRoles []data.RoleName
	for role := range uploaded {
		if role == data.CanonicalTargetsRole || data.IsDelegation(role) {
			targetsRoles = append(targetsRoles, role)
		}
	}
	slices.SortFunc(targetsRoles, func(a, b data.RoleName) int {
		return cmp.Or(cmp.Compare(depth(a), depth(b)), cmp.Compare(a, b))
	})
	for _, role := range targetsRoles {
		// Load the missing ancestors from the store, top down. A missing one
		// is no error here: the role then fails to load below.
		var missing []data.RoleName
		for r := role; r != data.CanonicalTargetsRole; {
			r = r.Parent()
			if !builder.IsLoaded(r) {
				missing = append(missing, r)
			}
		}
		for i := len(missing) - 1; i >= 0; i-- {
			if err := loadStored(builder, st, gun, missing[i]); err != nil {
				return nil, err
			}
		}
		if err := builder.Load(role, uploaded[role].Data, 1, false); err != nil {
			return nil, validation.ErrBadTargets{Msg: err.Error()}
		}
		if data.IsDelegation(role) {
			if err := view.checkPaths(role); err != nil {
				return nil, err
			}
		}
		accepted = append(accepted, uploaded[role])
	}

	// snapshot
	if snapshot, ok := uploaded[data.CanonicalSnapshotRole]; ok {
		if err := builder.Load(data.CanonicalSnapshotRole, snapshot.Data, 1, false); err != nil {
			return nil, validation.ErrBadSnapshot{Msg: err.Error()}
		}
		if err := view.checkSnapshot(snapshot.Data); err != nil {
			return nil, err
		}
		accepted = append(accepted, snapshot)
	} else {
		var prev *data.SignedSnapshot
		if err := readStored(st, gun, data.CanonicalSnapshotRole, &prev); err != nil {
			return nil, err
		}
		meta, version, err := builder.GenerateSnapshot(prev)
		if err != nil {
			if isMissingKey(err) {
				return nil, validation.ErrBadHierarchy{
					Missing: data.CanonicalSnapshotRole.String(),
					Msg: "no snapshot was included in update and server does not hold current snapshot key for repository" +
						staleCacheHint(gun, uploaded, data.CanonicalSnapshotRole),
				}
			}
			return nil, validation.ErrValidation{Msg: err.Error()}
		}
		accepted = append(accepted, storage.MetaUpdate{Role: data.CanonicalSnapshotRole, Version: version, Data: meta})
	}

	// timestamp, always by the server
	var prev *data.SignedTimestamp
	if err := readStored(st, gun, data.CanonicalTimestampRole, &prev); err != nil {
		return nil, err
	}
	meta, version, err := builder.GenerateTimestamp(prev)
	if err != nil {
		var threshold signed.ErrRoleThreshold
		if isMissingKey(err) && !errors.As(err, &threshold) {
			return nil, validation.ErrBadRoot{Msg: "no timestamp keys exist on the server" +
				staleCacheHint(gun, uploaded, data.CanonicalTimestampRole)}
		}
		return nil, validation.ErrValidation{Msg: err.Error()}
	}
	accepted = append(accepted, storage.MetaUpdate{Role: data.CanonicalTimestampRole, Version: version, Data: meta})

	return accepted, nil
}

// loadStored loads the current stored version of role into the builder,
// allowing it to have expired. A role that is not stored is skipped.
func loadStored(builder tuf.RepoBuilder, st storage.MetaStore, gun data.GUN, role data.RoleName) error {
	_, meta, err := st.GetCurrent(gun, role)
	if err != nil {
		if _, ok := err.(storage.ErrNotFound); ok {
			return nil
		}
		return storeError{err}
	}
	return builder.Load(role, meta, 1, true)
}

// readStored decodes the current stored version of role into *dst, or leaves
// *dst nil if none is stored.
func readStored[T any](st storage.MetaStore, gun data.GUN, role data.RoleName, dst **T) error {
	_, meta, err := st.GetCurrent(gun, role)
	if err != nil {
		if _, ok := err.(storage.ErrNotFound); ok {
			return nil
		}
		return storeError{err}
	}
	v := new(T)
	if err := json.Unmarshal(meta, v); err != nil {
		return storeError{err}
	}
	*dst = v
	return nil
}

// isMissingKey reports whether signing failed because the server lacks the
// role's key.
func isMissingKey(err error) bool {
	var (
		insufficient signed.ErrInsufficientSignatures
		noKeys       signed.ErrNoKeys
		threshold    signed.ErrRoleThreshold
	)
	return errors.As(err, &insufficient) || errors.As(err, &noKeys) || errors.As(err, &threshold)
}

// depth is the number of path segments of a role name.
func depth(role data.RoleName) int {
	return strings.Count(role.String(), "/")
}

// updateView reads the trust data of a GUN as an update would leave it: the
// uploaded version of a role, else the stored current one.
type updateView struct {
	gun      data.GUN
	uploaded map[data.RoleName]storage.MetaUpdate
	st       storage.MetaStore
}

// current is the metadata of role after the update, nil if there is none,
// and whether it is the uploaded one.
func (v updateView) current(role data.RoleName) (meta []byte, uploaded bool, err error) {
	if u, ok := v.uploaded[role]; ok {
		return u.Data, true, nil
	}
	meta, err = v.stored(role)
	return meta, false, err
}

// stored is the current stored metadata of role, nil if there is none.
func (v updateView) stored(role data.RoleName) ([]byte, error) {
	_, meta, err := v.st.GetCurrent(v.gun, role)
	if err != nil {
		if _, ok := err.(storage.ErrNotFound); ok {
			return nil, nil
		}
		return nil, storeError{err}
	}
	return meta, nil
}

// targets is the targets metadata of role after the update, nil if there is
// none.
func (v updateView) targets(role data.RoleName) (*data.SignedTargets, error) {
	meta, _, err := v.current(role)
	if err != nil {
		return nil, err
	}
	return parseTargets(role, meta)
}

// parseTargets reads the targets metadata of role, nil if meta is. Uploaded
// metadata has passed the builder before it is read here, so one that does
// not parse is stored.
func parseTargets(role data.RoleName, meta []byte) (*data.SignedTargets, error) {
	if meta == nil {
		return nil, nil
	}
	s := &data.Signed{}
	if err := json.Unmarshal(meta, s); err != nil {
		return nil, storeError{err}
	}
	t, err := data.TargetsFromSigned(s, role)
	if err != nil {
		return nil, storeError{err}
	}
	return t, nil
}

// checkPaths refuses targets that an uploaded delegated role adds (or
// changes) outside the paths delegated to it. notary-server stores them and
// notary's clients skip them when reading; refusing them tells the signer at
// once, and keeps what is stored what clients see. A role's paths are those
// its parent lists for it, less those outside the parent's own paths (as
// notary's clients restrict them). "path_hash_prefixes" are no part of
// notary's model (v0.7.0 reads only "paths"), so a role without paths may
// sign no target.
//
// A target the stored version already holds unchanged passes: when a parent
// narrows a role's paths, the role's signer (whose client keeps the targets
// it has) can still publish inside the new paths, and clients go on
// skipping the old target as they did before.
func (v updateView) checkPaths(role data.RoleName) error {
	paths, err := v.delegatedPaths(role)
	if err != nil {
		return err
	}
	t, err := v.targets(role)
	if err != nil {
		return err
	}
	meta, err := v.stored(role)
	if err != nil {
		return err
	}
	before, err := parseTargets(role, meta)
	if err != nil {
		return err
	}
	allowed := data.DelegationRole{Paths: paths}
	for _, name := range slices.Sorted(maps.Keys(t.Signed.Targets)) {
		if allowed.CheckPaths(name) {
			continue
		}
		if before != nil {
			if old, ok := before.Signed.Targets[name]; ok && old.Equals(t.Signed.Targets[name]) {
				continue
			}
		}
		return validation.ErrBadTargets{Msg: fmt.Sprintf("target %q is outside the paths delegated to %s (%q)", name, role, paths)}
	}
	return nil
}

// delegatedPaths are the path prefixes role may sign targets for after the
// update.
func (v updateView) delegatedPaths(role data.RoleName) ([]string, error) {
	parent := role.Parent()
	t, err := v.targets(parent)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, validation.ErrBadTargets{Msg: fmt.Sprintf("%s has no metadata to delegate %s", parent, role)}
	}
	d, err := t.BuildDelegationRole(role)
	if err != nil {
		return nil, validation.ErrBadTargets{Msg: err.Error()}
	}
	if parent == data.CanonicalTargetsRole {
		return d.Paths, nil
	}
	parentPaths, err := v.delegatedPaths(parent)
	if err != nil {
		return nil, err
	}
	return data.RestrictDelegationPathPrefixes(parentPaths, d.Paths), nil
}

// checkSnapshot refuses an uploaded snapshot that would send clients to other
// metadata than the server holds after the update. notary-server checks only
// the hashes of the roles uploaded alongside; a snapshot naming an older
// version of a stored role rolls that role back for every client, and one
// naming metadata that exists nowhere leaves fresh clients with "trust data
// unavailable". So every role the snapshot lists must be root or a targets
// role, listed with the length and hashes of its uploaded or current stored
// metadata, and no role may be left out that clients read now.
func (v updateView) checkSnapshot(meta []byte) error {
	var sn data.SignedSnapshot
	if err := json.Unmarshal(meta, &sn); err != nil {
		return validation.ErrBadSnapshot{Msg: err.Error()}
	}
	for _, name := range slices.Sorted(maps.Keys(sn.Signed.Meta)) {
		if err := v.checkListed(data.RoleName(name), sn.Signed.Meta[name]); err != nil {
			return err
		}
	}
	return v.checkComplete(sn.Signed.Meta)
}

// checkListed checks one role a snapshot lists.
func (v updateView) checkListed(role data.RoleName, listed data.FileMeta) error {
	if role != data.CanonicalRootRole && role != data.CanonicalTargetsRole && !data.IsDelegation(role) {
		return validation.ErrBadSnapshot{Msg: fmt.Sprintf("the snapshot lists %q, which is neither root nor a targets role", role)}
	}
	current, uploaded, err := v.current(role)
	if err != nil {
		return err
	}
	if current != nil && data.CheckHashes(current, role.String(), listed.Hashes) == nil {
		if int64(len(current)) != listed.Length {
			return validation.ErrBadSnapshot{Msg: fmt.Sprintf("the snapshot gives %s a length of %d bytes, but it has %d", role, listed.Length, len(current))}
		}
		return nil
	}
	if uploaded {
		return validation.ErrBadSnapshot{Msg: fmt.Sprintf("the snapshot does not name the uploaded %s", role)}
	}
	if sum, ok := listed.Hashes[notary.SHA256]; ok && current != nil {
		_, old, err := v.st.GetChecksum(v.gun, role, hex.EncodeToString(sum))
		switch err.(type) {
		case nil:
			return validation.ErrBadSnapshot{Msg: fmt.Sprintf("the snapshot names version %d of %s, older than the current version %d",
				versionOf(old), role, versionOf(current))}
		case storage.ErrNotFound:
		default:
			return storeError{err}
		}
	}
	return validation.ErrBadSnapshot{Msg: fmt.Sprintf("the snapshot names %s metadata that the server does not hold", role)}
}

// checkComplete refuses a snapshot that leaves out a role clients read now:
// one the stored snapshot lists and its parent still delegates to. Clients
// would take such a role for empty. A role the stored snapshot does not list
// either is none clients read (notary's client drops a removed delegation
// from its snapshot, and leaves it out when it is delegated again until it
// signs something).
func (v updateView) checkComplete(listed data.Files) error {
	var prev *data.SignedSnapshot
	if err := readStored(v.st, v.gun, data.CanonicalSnapshotRole, &prev); err != nil {
		return err
	}
	if prev == nil {
		return nil // the builder checked the uploaded roles, and no others are read
	}
	// Walk down from targets through the roles the snapshot lists (each
	// checked to be the metadata in place); a child is always named below
	// its parent, so the walk ends.
	for queue := []data.RoleName{data.CanonicalTargetsRole}; len(queue) > 0; queue = queue[1:] {
		t, err := v.targets(queue[0])
		if err != nil {
			return err
		}
		if t == nil {
			continue
		}
		for _, d := range t.Signed.Delegations.Roles {
			if _, ok := listed[d.Name.String()]; ok {
				queue = append(queue, d.Name)
			} else if _, ok := prev.Signed.Meta[d.Name.String()]; ok {
				return validation.ErrBadSnapshot{Msg: fmt.Sprintf("the snapshot leaves out %s, which %s delegates to and the current snapshot lists", d.Name, queue[0])}
			}
		}
	}
	return nil
}

// versionOf is the version of serialised metadata, 0 if it has none.
func versionOf(meta []byte) int {
	var m data.SignedMeta
	_ = json.Unmarshal(meta, &m)
	return m.Signed.Version
}

// staleCacheHint names the cause and the fix of a refusal for want of a
// server key that an uploaded root names: the notary client surfaces the
// message to its user (the notary CLI prints it, docker too). Such a root
// comes from a client's cache of trust data deleted on the server since
// (and perhaps created again): the client publishes the old root and
// expects the old server keys. Without an uploaded root the key is the
// server's own loss, and nothing is added.
func staleCacheHint(gun data.GUN, uploaded map[data.RoleName]storage.MetaUpdate, role data.RoleName) string {
	if _, ok := uploaded[data.CanonicalRootRole]; !ok {
		return ""
	}
	return fmt.Sprintf(". The uploaded root names a %s key this server does not hold: the client is publishing from its cache of "+
		"trust data that was deleted on the server. Clear that client's cache of %s (notary delete %s, without --remote; "+
		"for docker, remove ~/.docker/trust/tuf/%s), then initialise the repository again", role, gun, gun, gun)
}
