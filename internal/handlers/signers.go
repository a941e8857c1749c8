package handlers

import (
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/accounts"
	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/keys"
	"github.com/trustdeck/trustdeck/internal/signers"
	"github.com/trustdeck/trustdeck/internal/views"
)

// maxKeyFile bounds an uploaded key or certificate.
const maxKeyFile = 64 << 10

// repoForAdmin loads the route's repository for a trust administrator
// (namespace or global admin). Readers get 403; others 404.
func (s *Server) repoForAdmin(c echo.Context) (*catalog.Repository, error) {
	r, role, err := s.repoForRead(c)
	if err != nil {
		return nil, err
	}
	if role < accounts.RoleAdmin {
		return nil, errs.Forbiddenf("forbidden", "Only administrators of namespace %q manage trust.", r.Namespace)
	}
	return r, nil
}

func (s *Server) auditRepo(ctx context.Context, actor, action string, r *catalog.Repository, detail string) {
	s.Audit.Record(ctx, audit.Event{Actor: actor, Action: action, GUN: r.GUN, Namespace: r.Namespace,
		Name: r.Name, Detail: detail})
	if s.Summaries != nil {
		s.Summaries.Enqueue(r.Namespace, r.Name)
	}
}

// formFile reads an optional uploaded file field, bounded. No file, or a
// form that is not multipart, gives nil.
func formFile(c echo.Context, field string) ([]byte, error) {
	fh, err := c.FormFile(field)
	if err != nil {
		return nil, nil
	}
	return readUpload(fh)
}

func readUpload(fh *multipart.FileHeader) ([]byte, error) {
	if fh.Size > maxKeyFile {
		return nil, errs.Invalidf("file_too_large", "The file %q is larger than 64 KiB: it is not a key.", fh.Filename)
	}
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, nil
	}
	return b, nil
}

// --- initialise ---

func (s *Server) initTrustForm(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.InitTrustPage(s.page(c, "Initialise trust", "repositories"),
		views.InitForm{Namespace: r.Namespace, Name: r.Name, GUN: r.GUN}))
}

func (s *Server) initTrust(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	rootPass, repoPass := c.FormValue("root_passphrase"), c.FormValue("repository_passphrase")
	var res *signers.InitResult
	switch {
	case rootPass != c.FormValue("root_passphrase_confirm"):
		err = errs.Invalidf("passphrase_mismatch", "The two root key passphrases differ.")
	case repoPass != c.FormValue("repository_passphrase_confirm"):
		err = errs.Invalidf("passphrase_mismatch", "The two repository key passphrases differ.")
	default:
		res, err = s.initialise(c, r, rootPass, repoPass)
	}
	if err != nil {
		if !userError(err) {
			return err
		}
		status, _, msg := classify(err)
		return render(c, status, views.InitTrustPage(s.page(c, "Initialise trust", "repositories"),
			views.InitForm{Namespace: r.Namespace, Name: r.Name, GUN: r.GUN, Error: msg}))
	}
	return render(c, http.StatusCreated, views.InitDonePage(s.page(c, "Trust initialised", "repositories"),
		views.InitDone{Namespace: r.Namespace, Name: r.Name, GUN: r.GUN, RootKeyID: res.RootKeyID, RepositoryKeyID: res.RepositoryKeyID}))
}

func (s *Server) initialise(c echo.Context, r *catalog.Repository, rootPass, repoPass string) (*signers.InitResult, error) {
	u := currentUser(c)
	res, err := s.Signers.Initialise(c.Request().Context(), r.GUN, rootPass, repoPass, u.Username)
	if err != nil {
		return nil, err
	}
	s.auditRepo(c.Request().Context(), u.Username, audit.TrustInit, r,
		"root key "+res.RootKeyID+", repository key "+res.RepositoryKeyID+" (both in the vault)")
	return res, nil
}

// userError reports errors to show next to a form rather than on an error page.
func userError(err error) bool {
	switch errs.KindOf(err) {
	case errs.Invalid, errs.Conflict, errs.NotFound, errs.Unavailable:
		return true
	}
	return false
}

func (s *Server) apiInitTrust(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	var in struct {
		RootPassphrase       string `json:"root_passphrase"`
		RepositoryPassphrase string `json:"repository_passphrase"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	res, err := s.initialise(c, r, in.RootPassphrase, in.RepositoryPassphrase)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]string{"gun": r.GUN, "root_key_id": res.RootKeyID,
		"repository_key_id": res.RepositoryKeyID})
}

// --- add signer ---

// repoKeyState says which repository key the vault must hold and whether it does.
func (s *Server) repoKeyState(ctx context.Context, gun string) (string, bool) {
	repo, err := s.Trust.Load(ctx, gun)
	if err != nil || len(repo.TargetsKeys) == 0 {
		return "", false
	}
	ids := make([]string, 0, len(repo.TargetsKeys))
	for _, k := range repo.TargetsKeys {
		ids = append(ids, k.ID)
	}
	if k, err := s.Vault.FindForRole(ctx, gun, "targets", ids); err == nil && k != nil {
		return k.ID, true
	}
	return ids[0], false
}

func (s *Server) signerForm(c echo.Context, r *catalog.Repository, f views.SignerForm) (views.SignerForm, error) {
	ctx := c.Request().Context()
	f.Namespace, f.Name, f.GUN = r.Namespace, r.Name, r.GUN
	f.RepoKeyID, f.RepoKeyHeld = s.repoKeyState(ctx, r.GUN)
	all, err := s.UserKeys.All(ctx)
	if err != nil {
		return f, err
	}
	now := time.Now()
	for _, k := range all {
		label := k.Username + " — " + k.ID[:12] + " " + k.Type
		if k.Subject != "" {
			label += " (" + k.Subject + ")"
		}
		if !k.NotAfter.IsZero() && k.NotAfter.Before(now) {
			label += " — expired"
		}
		f.Registered = append(f.Registered, views.RegisteredKeyOption{Value: k.Username + "/" + k.ID, Label: label})
	}
	return f, nil
}

func (s *Server) addSignerForm(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	f, err := s.signerForm(c, r, views.SignerForm{})
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AddSignerPage(s.page(c, "Add signer", "repositories"), f))
}

// signerKey resolves the signer's public key from a registered key or an upload.
func (s *Server) signerKey(c echo.Context, registered string, pemText []byte) (*keys.Public, error) {
	ctx := c.Request().Context()
	if registered != "" {
		username, keyID, ok := strings.Cut(registered, "/")
		if !ok {
			return nil, errs.Invalidf("invalid_key", "Choose a registered key from the list.")
		}
		k, err := s.UserKeys.Find(ctx, username, keyID)
		if err != nil {
			return nil, err
		}
		pemText = []byte(k.PEM)
	}
	if len(strings.TrimSpace(string(pemText))) == 0 {
		return nil, errs.Invalidf("missing_key", "Give the signer's public key: a registered key, a cert.pem file or pasted PEM.")
	}
	return keys.ParsePublic(pemText, time.Now())
}

func (s *Server) addSigner(c echo.Context, r *catalog.Repository, name string, pub *keys.Public, rk signers.RepoKey) error {
	u := currentUser(c)
	err := s.Accounts.GuardKeyPassphrase(u, "wrong_passphrase", func() error {
		return s.Signers.AddSigner(c.Request().Context(), r.GUN, name, pub, rk, u.Username)
	})
	if err != nil {
		return err
	}
	s.auditRepo(c.Request().Context(), u.Username, audit.SignerAdd, r,
		"signer "+name+" with key "+pub.CanonicalID+" ("+pub.Type+")")
	return nil
}

func (s *Server) addSignerSubmit(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(c.FormValue("signer"))
	registered := c.FormValue("registered_key")
	err = func() error {
		upload, err := formFile(c, "public_key_file")
		if err != nil {
			return err
		}
		if upload == nil {
			upload = []byte(c.FormValue("public_key"))
		}
		pub, err := s.signerKey(c, registered, upload)
		if err != nil {
			return err
		}
		oneOff, err := formFile(c, "repository_key")
		if err != nil {
			return err
		}
		return s.addSigner(c, r, name, pub, signers.RepoKey{Passphrase: c.FormValue("repository_passphrase"), OneOffPEM: oneOff})
	}()
	if err != nil {
		if !userError(err) {
			return err
		}
		status, _, msg := classify(err)
		f, ferr := s.signerForm(c, r, views.SignerForm{SignerName: name, KeyChoice: registered, Error: msg})
		if ferr != nil {
			return ferr
		}
		return render(c, status, views.AddSignerPage(s.page(c, "Add signer", "repositories"), f))
	}
	return s.redirectWithNotice(c, r.Path()+"#signers", "Signer "+name+" added.")
}

func (s *Server) apiAddSigner(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	var in struct {
		Name                 string `json:"name"`
		PublicKey            string `json:"public_key"`
		RepositoryPassphrase string `json:"repository_passphrase"`
		RepositoryKey        string `json:"repository_key"` // optional one-off encrypted key PEM
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	pub, err := s.signerKey(c, "", []byte(in.PublicKey))
	if err != nil {
		return err
	}
	rk := signers.RepoKey{Passphrase: in.RepositoryPassphrase}
	if in.RepositoryKey != "" {
		rk.OneOffPEM = []byte(in.RepositoryKey)
	}
	if err := s.addSigner(c, r, in.Name, pub, rk); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"name": in.Name, "keys": []string{pub.CanonicalID}, "gun": r.GUN})
}

// --- revoke signer ---

func (s *Server) revokeModel(c echo.Context, r *catalog.Repository, signer string) (views.RevokeForm, error) {
	ctx := c.Request().Context()
	imp, err := s.Signers.Impact(ctx, r.GUN, signer)
	if err != nil {
		return views.RevokeForm{}, err
	}
	keyID, held := s.repoKeyState(ctx, r.GUN)
	return views.RevokeForm{Namespace: r.Namespace, Name: r.Name, GUN: r.GUN, Signer: signer, Keys: imp.Keys,
		LosesLastSigner: imp.LosesLastSigner, Unpullable: imp.Unpullable, RevertsToTargets: imp.RevertsToTargets,
		RequiresConfirm: imp.RequiresConfirm, RepoKeyID: keyID, RepoKeyHeld: held}, nil
}

func (s *Server) revokeSignerForm(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	m, err := s.revokeModel(c, r, c.Param("signer"))
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.RevokeSignerPage(s.page(c, "Revoke signer", "repositories"), m))
}

func (s *Server) revoke(c echo.Context, r *catalog.Repository, signer string, rk signers.RepoKey, confirm string) (*signers.Impact, error) {
	u := currentUser(c)
	var imp *signers.Impact
	err := s.Accounts.GuardKeyPassphrase(u, "wrong_passphrase", func() (err error) {
		imp, err = s.Signers.Revoke(c.Request().Context(), r.GUN, signer, rk, confirm, u.Username)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.auditRepo(c.Request().Context(), u.Username, audit.SignerRevoke, r, "signer "+signer+" revoked (keys "+
		strings.Join(imp.Keys, ", ")+")")
	return imp, nil
}

func (s *Server) revokeSignerSubmit(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	signer := c.Param("signer")
	oneOff, err := formFile(c, "repository_key")
	if err == nil {
		_, err = s.revoke(c, r, signer, signers.RepoKey{Passphrase: c.FormValue("repository_passphrase"), OneOffPEM: oneOff},
			c.FormValue("confirm"))
	}
	if err != nil {
		if !userError(err) {
			return err
		}
		status, _, msg := classify(err)
		m, merr := s.revokeModel(c, r, signer)
		if merr != nil {
			return merr
		}
		m.Error = msg
		return render(c, status, views.RevokeSignerPage(s.page(c, "Revoke signer", "repositories"), m))
	}
	return s.redirectWithNotice(c, r.Path()+"#signers", "Signer "+signer+" revoked.")
}

func (s *Server) apiRevokeSigner(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	var in struct {
		RepositoryPassphrase string `json:"repository_passphrase"`
		RepositoryKey        string `json:"repository_key"`
		Confirm              string `json:"confirm"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	rk := signers.RepoKey{Passphrase: in.RepositoryPassphrase}
	if in.RepositoryKey != "" {
		rk.OneOffPEM = []byte(in.RepositoryKey)
	}
	imp, err := s.revoke(c, r, c.Param("signer"), rk, in.Confirm)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"revoked": c.Param("signer"), "keys": imp.Keys,
		"loses_last_signer": nonNil(imp.LosesLastSigner), "unpullable": nonNil(imp.Unpullable)})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
