package notaryserver

import (
	"cmp"
	"errors"
	"slices"
	"strings"

	"github.com/docker/go/canonical/json"
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
//     which comes from the upload or else from the store.
//   - An uploaded snapshot must be signed by the snapshot key of the root
//     (so it is refused when the server holds that key); without one the
//     server signs the next snapshot, which fails if it does not hold the key.
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
		accepted = append(accepted, uploaded[role])
	}

	// snapshot
	if snapshot, ok := uploaded[data.CanonicalSnapshotRole]; ok {
		if err := builder.Load(data.CanonicalSnapshotRole, snapshot.Data, 1, false); err != nil {
			return nil, validation.ErrBadSnapshot{Msg: err.Error()}
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
					Msg:     "no snapshot was included in update and server does not hold current snapshot key for repository",
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
			return nil, validation.ErrBadRoot{Msg: "no timestamp keys exist on the server"}
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
