package handlers

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/accounts"
	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/trust"
	"github.com/trustdeck/trustdeck/internal/vault"
	"github.com/trustdeck/trustdeck/internal/views"
)

// mayManageKeysOf reports whether u administers the keys of gun: keys of a
// catalog GUN belong to its namespace's admins; global keys (gun "", such as
// docker's root keys) and keys of other GUNs to global admins.
func (s *Server) mayManageKeysOf(ctx context.Context, u *accounts.User, gun string) bool {
	return s.mayManageKey(ctx, u, vault.KeyInfo{GUN: gun})
}

// mayManageKey also lets the account that put a global key into the vault
// (a namespace admin who initialised trust, for its root key) manage it.
func (s *Server) mayManageKey(ctx context.Context, u *accounts.User, k vault.KeyInfo) bool {
	if u.IsAdmin || (k.GUN == "" && k.CreatedBy == u.Username) {
		return true
	}
	gun := k.GUN
	ns, _, ok := s.Catalog.SplitGUN(gun)
	if !ok {
		return false
	}
	role, err := s.Accounts.RoleIn(ctx, u, ns)
	return err == nil && role >= accounts.RoleAdmin
}

// requireKeyAdmin refuses accounts that administer no namespace: the vault
// is for global and namespace administrators only.
func (s *Server) requireKeyAdmin(c echo.Context) error {
	ok, _, err := s.canCreateSomewhere(c)
	if err != nil {
		return err
	}
	if !ok {
		return errs.Forbiddenf("forbidden", "Only global administrators and namespace administrators use the key vault.")
	}
	return nil
}

// visibleKeys lists the vault keys the caller administers.
func (s *Server) visibleKeys(c echo.Context) ([]vault.KeyInfo, error) {
	if err := s.requireKeyAdmin(c); err != nil {
		return nil, err
	}
	ctx := c.Request().Context()
	all, err := s.Vault.List(ctx, "")
	if err != nil {
		return nil, err
	}
	out := []vault.KeyInfo{}
	for _, k := range all {
		if s.mayManageKey(ctx, currentUser(c), k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// keyForAdmin loads one vault key the caller administers: 403 for accounts
// that administer no namespace (as on the other vault routes), 404 for a key
// the caller does not administer (its existence is not revealed).
func (s *Server) keyForAdmin(c echo.Context) (*vault.KeyInfo, error) {
	if err := s.requireKeyAdmin(c); err != nil {
		return nil, err
	}
	ctx := c.Request().Context()
	k, err := s.Vault.Get(ctx, c.Param("id"))
	if err != nil {
		return nil, err
	}
	if !s.mayManageKey(ctx, currentUser(c), *k) {
		return nil, errs.NotFoundf("key_not_found", "There is no key %s you administer.", c.Param("id"))
	}
	return k, nil
}

// vaultRow is how pages list a vault key.
func vaultRow(k vault.KeyInfo) views.VaultKeyRow {
	return views.VaultKeyRow{ID: k.ID, Role: k.Role, GUN: k.GUN, Algorithm: k.Algorithm, CreatedBy: k.CreatedBy,
		CreatedAt: k.CreatedAt, Repository: k.Repository(), Downloaded: k.ExportedAt != nil,
		Unrecoverable: k.Unrecoverable(), ConfirmID: k.ConfirmRemoval()}
}

// keyUse says whether the trust data of its repository lists a root or
// repository (targets) key (Use "current"), or other keys for that role
// ("superseded": rotated out), reading each repository once (repos). A key
// of another role, of no known repository, or whose repository cannot be
// read is left unknown.
func (s *Server) keyUse(ctx context.Context, row *views.VaultKeyRow, repos map[string]*trust.Repo) {
	if row.Repository == "" || (row.Role != "root" && row.Role != "targets") {
		return
	}
	repo, seen := repos[row.Repository]
	if !seen {
		repo, _ = s.Trust.Load(ctx, row.Repository)
		repos[row.Repository] = repo
	}
	if repo == nil {
		return
	}
	listed := repo.TargetsKeys
	if row.Role == "root" {
		listed = repo.RootKeys
	}
	row.Use = "superseded"
	for _, k := range listed {
		if k.ID == row.ID {
			row.Use, row.CertificateID = "current", k.TUFID
		}
	}
}

func (s *Server) vaultPage(c echo.Context, status int, errMsg string) error {
	list, err := s.visibleKeys(c)
	if err != nil {
		return err
	}
	v := views.VaultPage{Error: errMsg}
	repos := map[string]*trust.Repo{}
	for _, k := range list {
		row := vaultRow(k)
		s.keyUse(c.Request().Context(), &row, repos)
		v.Keys = append(v.Keys, row)
	}
	return render(c, status, views.VaultKeysPage(s.page(c, "Key vault", "keys"), v))
}

func (s *Server) keysPage(c echo.Context) error { return s.vaultPage(c, http.StatusOK, "") }

// importKey checks permission on the key's GUN before storing it.
func (s *Server) importKey(c echo.Context, pemBytes []byte, passphrase string) (*vault.KeyInfo, error) {
	if err := s.requireKeyAdmin(c); err != nil {
		return nil, err
	}
	ctx := c.Request().Context()
	u := currentUser(c)
	gun, err := vault.PeekGUN(pemBytes)
	if err != nil {
		return nil, err
	}
	if !s.mayManageKeysOf(ctx, u, gun) {
		if gun == "" {
			return nil, errs.Forbiddenf("forbidden", "Only global administrators import keys that belong to no repository (such as root keys).")
		}
		return nil, errs.Forbiddenf("forbidden", "You do not administer the repository %s this key belongs to.", gun)
	}
	k, err := s.Vault.Import(ctx, pemBytes, passphrase, u.Username)
	if err != nil {
		return nil, err
	}
	s.Audit.Record(ctx, keyEvent(s, u.Username, audit.KeyImport, k))
	return k, nil
}

func keyEvent(s *Server, actor, action string, k *vault.KeyInfo) audit.Event {
	ns, name, _ := s.Catalog.SplitGUN(k.GUN)
	return audit.Event{Actor: actor, Action: action, GUN: k.GUN, Namespace: ns, Name: name,
		Detail: k.Role + " key " + k.ID}
}

func (s *Server) keyImportForm(c echo.Context) error {
	pemBytes, err := formFile(c, "key_file")
	if err == nil && pemBytes == nil {
		err = errs.Invalidf("missing_key", "Choose the key file to import.")
	}
	if err == nil {
		_, err = s.importKey(c, pemBytes, c.FormValue("passphrase"))
	}
	if err != nil {
		if !userError(err) {
			return err
		}
		status, _, msg := classify(err)
		return s.vaultPage(c, status, msg)
	}
	return s.redirectWithNotice(c, "/keys", "Key imported.")
}

func (s *Server) keyDownload(c echo.Context) error {
	k, err := s.keyForAdmin(c)
	if err != nil {
		return err
	}
	name, pemBytes, err := s.Vault.Export(c.Request().Context(), k.ID)
	if err != nil {
		return err
	}
	s.Audit.Record(c.Request().Context(), keyEvent(s, currentUser(c).Username, audit.KeyExport, k))
	c.Response().Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "application/x-pem-file", pemBytes)
}

// deleteKey removes the route's key from the vault: a root key nobody
// downloaded only with confirm (vault.Remove). The key is returned with
// the vault's refusal.
func (s *Server) deleteKey(c echo.Context, confirm string) (*vault.KeyInfo, error) {
	k, err := s.keyForAdmin(c)
	if err != nil {
		return nil, err
	}
	if err := s.Vault.Remove(c.Request().Context(), k.ID, strings.TrimSpace(confirm)); err != nil {
		return k, err
	}
	s.Audit.Record(c.Request().Context(), keyEvent(s, currentUser(c).Username, audit.KeyDelete, k))
	return k, nil
}

func (s *Server) keyDeleteForm(c echo.Context) error {
	next := c.FormValue("next")
	if !strings.HasPrefix(next, "/repositories/") {
		next = "/keys"
	}
	next = safeNext(next)
	k, err := s.deleteKey(c, c.FormValue("confirm"))
	if err != nil {
		if k == nil || !userError(err) {
			return err
		}
		status, _, msg := classify(err)
		return render(c, status, views.RemoveKeyPage(s.page(c, "Remove key", "keys"),
			views.RemoveKeyForm{Key: vaultRow(*k), Next: next, Errors: views.FormErrors{{Field: "confirm", Message: msg}}}))
	}
	return s.redirectWithNotice(c, next, "Key "+k.ID+" removed from the vault.")
}

type keyJSON struct {
	ID        string    `json:"id"`
	Role      string    `json:"role"`
	GUN       string    `json:"gun"`
	Algorithm string    `json:"algorithm,omitempty"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// MadeFor is the repository a root key was made for; ExportedAt when it
	// was first downloaded.
	MadeFor    string     `json:"made_for,omitempty"`
	ExportedAt *time.Time `json:"exported_at,omitempty"`
}

func toKeyJSON(k vault.KeyInfo) keyJSON {
	return keyJSON{ID: k.ID, Role: k.Role, GUN: k.GUN, Algorithm: k.Algorithm, CreatedBy: k.CreatedBy, CreatedAt: k.CreatedAt,
		MadeFor: k.MadeFor, ExportedAt: k.ExportedAt}
}

func (s *Server) apiKeyImport(c echo.Context) error {
	var in struct {
		PEM        string `json:"pem"`
		Passphrase string `json:"passphrase"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	k, err := s.importKey(c, []byte(in.PEM), in.Passphrase)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toKeyJSON(*k))
}

func (s *Server) apiKeyList(c echo.Context) error {
	list, err := s.visibleKeys(c)
	if err != nil {
		return err
	}
	out := make([]keyJSON, 0, len(list))
	for _, k := range list {
		out = append(out, toKeyJSON(k))
	}
	return c.JSON(http.StatusOK, map[string]any{"keys": out})
}

func (s *Server) apiKeyGet(c echo.Context) error { return s.keyDownload(c) }

func (s *Server) apiKeyDelete(c echo.Context) error {
	if _, err := s.deleteKey(c, c.QueryParam("confirm")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// --- users' public signing keys ---

func (s *Server) profilePage(c echo.Context, status int, errMsg string) error {
	return s.profilePageWith(c, status, views.ProfilePage{Error: errMsg})
}

func (s *Server) profilePageWith(c echo.Context, status int, v views.ProfilePage) error {
	u := currentUser(c)
	list, err := s.UserKeys.List(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	v.Username, v.PasswordRule = u.Username, accounts.PasswordRule
	now := time.Now()
	for _, k := range list {
		kr := views.KeyRow{ID: k.ID, ShortID: k.ID[:min(12, len(k.ID))], Type: k.Type, Algorithm: k.Algorithm,
			Subject: k.Subject, Expires: k.NotAfter}
		if !k.NotAfter.IsZero() {
			kr.ExpiryStatus = expiryStatus(k.NotAfter, now)
		}
		v.Keys = append(v.Keys, kr)
	}
	if v.SignerIn, err = s.signerIn(c, list); err != nil {
		return err
	}
	return render(c, status, views.ProfileKeysPage(s.page(c, "Your signing keys", "profile"), v))
}

// signerIn finds where keys (a user's registered keys) may sign: every
// delegation holding one of them, in the repositories with trust data the
// user may read. Trust data that cannot be read is left out.
func (s *Server) signerIn(c echo.Context, keys []vault.UserKey) ([]views.SignerIn, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	ctx := c.Request().Context()
	mine := map[string]bool{}
	for _, k := range keys {
		mine[k.ID] = true
	}
	visible, err := s.Accounts.VisibleNamespaces(ctx, currentUser(c))
	if err != nil {
		return nil, err
	}
	repos, err := s.Catalog.Visible(ctx, visible)
	if err != nil {
		return nil, err
	}
	var out []views.SignerIn
	for _, r := range repos {
		if r.Trust != nil && r.Trust.State == "none" {
			continue
		}
		repo, err := s.Trust.Load(ctx, r.GUN)
		if err != nil {
			if errs.KindOf(err) == errs.Internal {
				return nil, err
			}
			continue
		}
		for _, d := range repo.Delegations {
			var ids []string
			for _, id := range d.KeyIDs() {
				if mine[id] {
					ids = append(ids, id[:min(12, len(id))])
				}
			}
			if len(ids) > 0 {
				out = append(out, views.SignerIn{Namespace: r.Namespace, Name: r.Name, GUN: r.GUN, Role: d.Role,
					Signer: strings.TrimPrefix(d.Role, "targets/"), Keys: ids})
			}
		}
	}
	return out, nil
}

func (s *Server) profileKeys(c echo.Context) error { return s.profilePage(c, http.StatusOK, "") }

func (s *Server) registerUserKey(c echo.Context, u *accounts.User, pemBytes []byte) (*vault.UserKey, error) {
	k, err := s.UserKeys.Register(c.Request().Context(), u.ID, u.Username, pemBytes)
	if err != nil {
		return nil, err
	}
	s.Audit.Record(c.Request().Context(), audit.Event{Actor: currentUser(c).Username, Action: audit.UserKeyAdd,
		Detail: "public key " + k.ID + " for " + u.Username})
	return k, nil
}

func (s *Server) profileKeySubmit(c echo.Context) error {
	upload, err := formFile(c, "public_key_file")
	if err == nil {
		if upload == nil {
			upload = []byte(c.FormValue("public_key"))
		}
		_, err = s.registerUserKey(c, currentUser(c), upload)
	}
	if err != nil {
		if !userError(err) {
			return err
		}
		status, _, msg := classify(err)
		return s.profilePage(c, status, msg)
	}
	return s.redirectWithNotice(c, "/profile/keys", "Key registered.")
}

// profileKeyDelete removes one of the viewer's registered public keys
// (signers keep the key: it is in the trust data).
func (s *Server) profileKeyDelete(c echo.Context) error {
	u := currentUser(c)
	id := c.Param("id")
	if err := s.UserKeys.Delete(c.Request().Context(), u.ID, id); err != nil {
		return err
	}
	s.Audit.Record(c.Request().Context(), audit.Event{Actor: u.Username, Action: audit.UserKeyDelete,
		Detail: "public key " + id + " of " + u.Username})
	return s.redirectWithNotice(c, "/profile/keys", "Key "+id+" is no longer registered. Signers with it stay signers until an administrator revokes them.")
}

// userForKeys resolves the route's user: yourself, or anyone for a global admin.
func (s *Server) userForKeys(c echo.Context) (*accounts.User, error) {
	me := currentUser(c)
	name := c.Param("username")
	if name == me.Username {
		return me, nil
	}
	if !me.IsAdmin {
		return nil, errs.Forbiddenf("forbidden", "You can only manage your own signing keys.")
	}
	return s.Accounts.UserByName(c.Request().Context(), name)
}

type userKeyJSON struct {
	ID        string     `json:"id"`
	Type      string     `json:"type"`
	Algorithm string     `json:"algorithm"`
	Subject   string     `json:"subject,omitempty"`
	NotAfter  *time.Time `json:"not_after,omitempty"`
	PEM       string     `json:"public_key"`
}

func toUserKeyJSON(k vault.UserKey) userKeyJSON {
	out := userKeyJSON{ID: k.ID, Type: k.Type, Algorithm: k.Algorithm, Subject: k.Subject, PEM: k.PEM}
	if !k.NotAfter.IsZero() {
		t := k.NotAfter
		out.NotAfter = &t
	}
	return out
}

func (s *Server) apiUserKeyAdd(c echo.Context) error {
	u, err := s.userForKeys(c)
	if err != nil {
		return err
	}
	var in struct {
		PublicKey string `json:"public_key"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	k, err := s.registerUserKey(c, u, []byte(in.PublicKey))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toUserKeyJSON(*k))
}

func (s *Server) apiUserKeyList(c echo.Context) error {
	u, err := s.userForKeys(c)
	if err != nil {
		return err
	}
	list, err := s.UserKeys.List(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	out := make([]userKeyJSON, 0, len(list))
	for _, k := range list {
		out = append(out, toUserKeyJSON(k))
	}
	return c.JSON(http.StatusOK, map[string]any{"keys": out})
}

// passwordSubmit changes the signed-in user's password, ends every session
// of that user and starts a new one for this browser.
func (s *Server) passwordSubmit(c echo.Context) error {
	u := currentUser(c)
	next := c.FormValue("new_password")
	var err error
	if next != c.FormValue("new_password_confirm") {
		err = errs.Invalidf("password_mismatch", "The two new passwords differ.")
	} else {
		err = s.Accounts.ChangePassword(c.Request().Context(), u, c.FormValue("current_password"), next, c.RealIP())
	}
	if err != nil {
		if !userError(err) && errs.KindOf(err) != errs.TooMany {
			return err
		}
		status, _, msg := classify(err)
		return s.profilePageWith(c, status, views.ProfilePage{PasswordError: msg})
	}
	token, err := s.Accounts.StartSession(c.Request().Context(), u)
	if err != nil {
		return err
	}
	sess, _ := s.Sessions.Get(c.Request(), sessionCookie)
	sess.Values[sessionIDValue] = token
	sess.AddFlash("Password changed. Other sessions were signed out.")
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	s.Log.Info("password changed", "user", u.Username)
	return c.Redirect(http.StatusSeeOther, "/profile/keys")
}
