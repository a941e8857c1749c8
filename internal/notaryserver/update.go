package notaryserver

import (
	"context"
	"encoding/json"
	stderrors "errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/theupdateframework/notary/server/errors"
	"github.com/theupdateframework/notary/server/storage"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/validation"
)

// update is POST /v2/{gun}/_trust/tuf/: an atomic update of several roles,
// sent as multipart/form-data with one part per role whose filename is the
// role name. Every part is read and checked, the whole is validated against
// what is stored, and then all of it (with a snapshot and timestamp the server
// may have generated) is stored at once, or nothing is. It returns what was
// written.
func (s *server) update(w http.ResponseWriter, r *http.Request, gun string) ([]RoleVersion, error) {
	defer r.Body.Close()
	r.Body = http.MaxBytesReader(w, r.Body, s.maxUpload)

	uploaded, err := s.readUpload(r)
	if err != nil {
		return nil, err
	}

	// The check against what is stored and the write happen in one
	// transaction holding the GUN's lock (Config.Atomic), so no other
	// writer of the GUN, in this process or another sharing the store,
	// comes between them.
	var updates []storage.MetaUpdate
	err = s.atomic(r.Context(), gun, func(st storage.MetaStore) error {
		var err error
		if updates, err = validateUpdate(s.crypto, data.GUN(gun), uploaded, st); err != nil {
			var se storeError
			if stderrors.As(err, &se) {
				return err
			}
			return invalidUpdate{err}
		}
		return st.UpdateMany(data.GUN(gun), updates)
	})
	var (
		invalid  invalidUpdate
		se       storeError
		refusal  *Refusal
		oldVersn storage.ErrOldVersion
	)
	switch {
	case err == nil:
	case stderrors.As(err, &refusal):
		return nil, refusal
	case stderrors.As(err, &invalid):
		serializable, serr := validation.NewSerializableError(invalid.err)
		if serr != nil {
			// notary answers errors of the TUF library that are no
			// validation errors without detail.
			return nil, errors.ErrInvalidUpdate.WithDetail(nil)
		}
		return nil, errors.ErrInvalidUpdate.WithDetail(serializable)
	case stderrors.As(err, &se):
		s.log.Error("notary update: reading the store", "gun", gun, "err", se.err)
		return nil, errors.ErrUnknown.WithDetail(nil)
	case stderrors.As(err, &oldVersn):
		return nil, errors.ErrOldVersion.WithDetail(oldVersn)
	default:
		s.log.Error("notary update: writing the store", "gun", gun, "err", err)
		return nil, errors.ErrUpdating.WithDetail(nil)
	}

	written := make([]RoleVersion, len(updates))
	for i, u := range updates {
		written[i] = RoleVersion{Role: u.Role.String(), Version: u.Version}
	}
	return written, nil
}

// invalidUpdate is an update the validation refused (notary's TUF library's
// error).
type invalidUpdate struct{ err error }

func (e invalidUpdate) Error() string { return e.err.Error() }

// atomic runs fn with the store in one transaction holding gun's write
// lock (Config.Atomic), or on the store itself without it.
func (s *server) atomic(ctx context.Context, gun string, fn func(storage.MetaStore) error) error {
	if s.atomicFn == nil {
		return fn(s.store)
	}
	return s.atomicFn(ctx, gun, fn)
}

// readUpload reads the parts of an update, keyed by role.
func (s *server) readUpload(r *http.Request) (map[data.RoleName]storage.MetaUpdate, error) {
	reader, err := r.MultipartReader()
	if err != nil {
		return nil, errors.ErrMalformedUpload.WithDetail(nil)
	}
	uploaded := make(map[data.RoleName]storage.MetaUpdate)
	for {
		part, err := reader.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, s.readFailure(err)
		}
		u, err := s.readPart(part)
		part.Close()
		if err != nil {
			return nil, err
		}
		if _, dup := uploaded[u.Role]; dup {
			return nil, errors.ErrMalformedUpload.WithDetail("the update holds " + u.Role.String() + " twice")
		}
		uploaded[u.Role] = u
	}
	if len(uploaded) == 0 {
		return nil, errors.ErrMalformedUpload.WithDetail("the update holds no metadata")
	}
	return uploaded, nil
}

// readPart reads one role's metadata. The role is the part's filename, taken
// from the raw Content-Disposition: multipart.Part.FileName would cut
// "targets/releases" down to "releases".
func (s *server) readPart(part *multipart.Part) (storage.MetaUpdate, error) {
	role := data.RoleName(strings.TrimSuffix(partFilename(part), ".json"))
	if role == "" {
		return storage.MetaUpdate{}, errors.ErrNoFilename.WithDetail(nil)
	}
	if !data.ValidRole(role) {
		return storage.MetaUpdate{}, errors.ErrInvalidRole.WithDetail(role)
	}

	body, err := io.ReadAll(part)
	if err != nil {
		return storage.MetaUpdate{}, s.readFailure(err)
	}
	var meta data.SignedMeta
	if err := json.Unmarshal(body, &meta); err != nil {
		return storage.MetaUpdate{}, errors.ErrMalformedJSON.WithDetail(nil)
	}
	return storage.MetaUpdate{Role: role, Version: meta.Signed.Version, Data: body}, nil
}

// partFilename is the filename parameter of a part's Content-Disposition,
// untouched, or "" if there is none.
func partFilename(part *multipart.Part) string {
	_, params, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
	if err != nil {
		return ""
	}
	return params["filename"]
}

// readFailure classifies an error reading the body: too large, or malformed.
func (s *server) readFailure(err error) error {
	var tooLarge *http.MaxBytesError
	if stderrors.As(err, &tooLarge) {
		return &uploadTooLarge{limit: tooLarge.Limit}
	}
	return errors.ErrMalformedUpload.WithDetail(nil)
}
