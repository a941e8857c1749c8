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

// changed passes on the error of a change of r's trust data and queues r's
// summary when the change was made, or may have been (its outcome is
// unknown). The services audit their changes themselves (audit.Journal).
func (s *Server) changed(r *catalog.Repository, err error) error {
	if (err == nil || errs.KindOf(err) == errs.OutcomeUnknown) && s.Summaries != nil {
		s.Summaries.Enqueue(r.Namespace, r.Name)
	}
	return err
}

// formFailure answers a form whose change failed. A change sent without an
// answer is no failure the form could show: the browser goes to the page at
// to, which reads the current state, with a caution saying the change may
// have been applied. A user's mistake or an unreachable server is shown on
// the form again (rerender, with the status and message); anything else is
// an error page.
func (s *Server) formFailure(c echo.Context, to string, err error, rerender func(status int, msg string) error) error {
	status, _, msg := classify(err)
	switch {
	case errs.KindOf(err) == errs.OutcomeUnknown:
		return s.redirectWithCaution(c, to, msg)
	case !userError(err):
		return err
	}
	return rerender(status, msg)
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
	refused := func(status int, e views.FormErrors) error {
		return render(c, status, views.InitTrustPage(s.page(c, "Initialise trust", "repositories"),
			views.InitForm{Namespace: r.Namespace, Name: r.Name, GUN: r.GUN, Errors: e}))
	}
	var p problems
	p.newPassphrase("root_passphrase", rootPass, c.FormValue("root_passphrase_confirm"), "root key")
	p.newPassphrase("repository_passphrase", repoPass, c.FormValue("repository_passphrase_confirm"), "repository key")
	if p.any() {
		return refused(p.status, p.list)
	}
	res, err := s.initialise(c, r, rootPass, repoPass)
	if err != nil {
		return s.formFailure(c, r.Path(), err, func(status int, msg string) error {
			return refused(status, refusal(err, msg, nil))
		})
	}
	status := http.StatusCreated
	if res.Already {
		status = http.StatusOK
	}
	done := views.InitDone{Namespace: r.Namespace, Name: r.Name, GUN: r.GUN, RootKeyID: res.RootKeyID, RepositoryKeyID: res.RepositoryKeyID}
	if repo, err := s.Trust.Load(c.Request().Context(), r.GUN); err == nil {
		for _, k := range repo.RootKeys {
			if k.ID == res.RootKeyID {
				done.RootCertID = k.TUFID
			}
		}
	}
	return render(c, status, views.InitDonePage(s.page(c, "Trust initialised", "repositories"), done))
}

func (s *Server) initialise(c echo.Context, r *catalog.Repository, rootPass, repoPass string) (*signers.InitResult, error) {
	res, err := s.Signers.Initialise(c.Request().Context(), r.GUN, rootPass, repoPass, currentUser(c).Username)
	return res, s.changed(r, err)
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
	if res.Already {
		return c.JSON(http.StatusOK, map[string]any{"gun": r.GUN, "root_key_id": res.RootKeyID,
			"repository_key_id": res.RepositoryKeyID, "already": true,
			"message": r.GUN + " has trust data already: the earlier initialisation took effect."})
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

// addSigner adds the signer; already is set when the signer had the key
// (a retry: nothing was changed).
func (s *Server) addSigner(c echo.Context, r *catalog.Repository, name string, pub *keys.Public, rk signers.RepoKey) (already bool, err error) {
	u := currentUser(c)
	err = s.Accounts.GuardKeyPassphrase(u, "wrong_passphrase", func() (err error) {
		already, err = s.Signers.AddSigner(c.Request().Context(), r.GUN, name, pub, rk, u.Username)
		return err
	})
	return already, s.changed(r, err)
}

// alreadySigner says that signer name had key id already.
func alreadySigner(name, id string) string {
	return name + " is already a signer with key " + id + ": nothing changed."
}

func (s *Server) addSignerSubmit(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(c.FormValue("signer"))
	registered, pasted := c.FormValue("registered_key"), c.FormValue("public_key")
	passphrase := c.FormValue("repository_passphrase")
	form := views.SignerForm{SignerName: name, KeyChoice: registered, PublicKey: keptPEM(pasted)}
	refused := func(status int, e views.FormErrors) error {
		f, err := s.signerForm(c, r, form)
		if err != nil {
			return err
		}
		f.Errors = e
		return render(c, status, views.AddSignerPage(s.page(c, "Add signer", "repositories"), f))
	}

	// Every field is checked before anything is published.
	var p problems
	if err := p.add("signer", signers.CheckName(name)); err != nil {
		return err
	}
	keyField := "public_key"
	upload, err := formFile(c, "public_key_file")
	if upload != nil || err != nil {
		keyField = "public_key_file"
	}
	if registered != "" {
		keyField = "registered_key"
	}
	var pub *keys.Public
	if err == nil {
		if upload == nil {
			upload = []byte(pasted)
		}
		pub, err = s.signerKey(c, registered, upload)
	}
	if err := p.add(keyField, err); err != nil {
		return err
	}
	oneOff, err := formFile(c, "repository_key")
	if err := p.add("repository_key", err); err != nil {
		return err
	}
	p.require("repository_passphrase", passphrase, "Type the passphrase of the repository key.")
	if p.any() {
		return refused(p.status, p.list)
	}

	notice := "Signer " + name + " added."
	already, err := s.addSigner(c, r, name, pub, signers.RepoKey{Passphrase: passphrase, OneOffPEM: oneOff})
	if err != nil {
		return s.formFailure(c, r.Path()+"#signers", err, func(status int, msg string) error {
			fields := keyFields("repository_key", "repository_passphrase")
			fields["invalid_name"], fields["reserved_name"], fields["key_in_use"] = "signer", "signer", keyField
			return refused(status, refusal(err, msg, fields))
		})
	}
	if already {
		notice = alreadySigner(name, pub.CanonicalID)
	}
	return s.redirectWithNoticeAt(c, r.Path(), "signers", notice, "signer-"+name)
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
	already, err := s.addSigner(c, r, in.Name, pub, rk)
	if err != nil {
		return err
	}
	if already {
		return c.JSON(http.StatusOK, map[string]any{"name": in.Name, "keys": []string{pub.CanonicalID}, "gun": r.GUN,
			"already": true, "message": alreadySigner(in.Name, pub.CanonicalID)})
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
	m := views.RevokeForm{Namespace: r.Namespace, Name: r.Name, GUN: r.GUN, Signer: signer, Keys: imp.Keys,
		LosesLastSigner: imp.LosesLastSigner, Unpullable: imp.Unpullable, RevertsToTargets: imp.RevertsToTargets,
		Counts: imp.Counts(), KeepRelease: imp.KeepRelease,
		RequiresConfirm: imp.RequiresConfirm, RepoKeyID: keyID, RepoKeyHeld: held}
	for _, u := range imp.RemovedUnreleased {
		m.RemovedUnreleased = append(m.RemovedUnreleased, views.UnreleasedRow{Tag: u.Tag, Digest: u.Digest, TagReleased: u.TagReleased})
	}
	return m, nil
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
	return imp, s.changed(r, err)
}

// revokedNotice says what revoking signer did.
func revokedNotice(r *catalog.Repository, signer string, imp *signers.Impact) string {
	if imp.AlreadyRevoked {
		return signer + " is not a signer of " + r.GUN + " any more: the earlier revocation took effect; nothing changed."
	}
	return "Signer " + signer + " revoked."
}

func (s *Server) revokeSignerSubmit(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	signer := c.Param("signer")
	oneOff, err := formFile(c, "repository_key")
	var imp *signers.Impact
	if err == nil {
		imp, err = s.revoke(c, r, signer, signers.RepoKey{Passphrase: c.FormValue("repository_passphrase"), OneOffPEM: oneOff},
			c.FormValue("confirm"))
	}
	if err != nil {
		return s.formFailure(c, r.Path()+"#signers", err, func(status int, msg string) error {
			m, merr := s.revokeModel(c, r, signer)
			if merr != nil {
				return merr
			}
			fields := keyFields("repository_key", "repository_passphrase")
			fields["confirm_required"] = "confirm"
			m.Errors = refusal(err, msg, fields)
			return render(c, status, views.RevokeSignerPage(s.page(c, "Revoke signer", "repositories"), m))
		})
	}
	return s.redirectWithNoticeAt(c, r.Path(), "signers", revokedNotice(r, signer, imp))
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
	removed := []map[string]string{}
	for _, u := range imp.RemovedUnreleased {
		removed = append(removed, map[string]string{"tag": u.Tag, "digest": u.Digest})
	}
	out := map[string]any{"revoked": c.Param("signer"), "keys": nonNil(imp.Keys),
		"loses_last_signer": nonNil(imp.LosesLastSigner), "unpullable": nonNil(imp.Unpullable), "removed_unreleased": removed}
	if imp.AlreadyRevoked {
		out["already"], out["message"] = true, revokedNotice(r, c.Param("signer"), imp)
	}
	return c.JSON(http.StatusOK, out)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
