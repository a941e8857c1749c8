package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/signers"
	"github.com/trustdeck/trustdeck/internal/views"
)

// checkConfirm requires the repository's full name, typed.
func checkConfirm(r *catalog.Repository, confirm string) error {
	if strings.TrimSpace(confirm) != r.FullName() {
		return errs.Invalidf("confirm_required", "Type the repository's full name, %s, to confirm.", r.FullName())
	}
	return nil
}

func (s *Server) deleteWizard(c echo.Context, r *catalog.Repository, status int, errMsg string) error {
	ctx := c.Request().Context()
	st, err := s.Removal.State(ctx, r.Namespace, r.Name)
	if err != nil {
		return err
	}
	w := views.DeleteWizard{Namespace: r.Namespace, Name: r.Name, GUN: r.GUN, HasTrust: st.HasTrust, Error: errMsg}
	if st.TrustError != nil {
		_, _, w.TrustError = classify(st.TrustError)
	}
	if st.Repo != nil {
		res := st.Repo.Inspect(r.GUN, "")
		tags := map[string]bool{}
		for _, t := range res.SignedTags {
			tags[t.SignedTag] = true
		}
		w.SignedTags = len(tags)
		for _, sg := range st.Repo.Signers() {
			w.Signers = append(w.Signers, sg.Name)
		}
		expired := map[string]bool{}
		for _, rm := range st.Expired {
			expired[rm.Role] = true
			w.Expired = append(w.Expired, views.ExpiryRow{Role: rm.Role, Version: rm.Version, Expires: rm.Expires, Status: "expired"})
		}
		for _, rm := range st.Repo.Roles {
			row := views.ExpiryRow{Role: rm.Role, Version: rm.Version, Expires: rm.Expires}
			if expired[rm.Role] {
				row.Status = "expired"
			}
			w.Roles = append(w.Roles, row)
		}
	}
	for _, k := range st.VaultKeys {
		w.VaultKeys = append(w.VaultKeys, vaultRow(k))
	}
	events, err := s.Audit.List(ctx, audit.Query{Namespace: r.Namespace, Name: r.Name, Limit: 10})
	if err != nil {
		return err
	}
	for i, e := range events {
		if i == 0 {
			w.LastUpdate = e.At
		}
		w.History = append(w.History, views.AuditRow{At: e.At, Actor: e.Actor, Action: e.Action, GUN: e.GUN, Detail: e.Detail})
	}
	return render(c, status, views.DeleteWizardPage(s.page(c, "Delete "+r.FullName(), "repositories"), w))
}

func (s *Server) deleteWizardPage(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	return s.deleteWizard(c, r, http.StatusOK, "")
}

// wizardFailure shows a user's mistake or an unreachable Notary server on
// the wizard itself, with the real state; a deletion sent without an answer
// goes to the wizard anew, which reads the state, with a caution.
func (s *Server) wizardFailure(c echo.Context, r *catalog.Repository, err error) error {
	return s.formFailure(c, r.Path()+"/delete", err, func(status int, msg string) error {
		return s.deleteWizard(c, r, status, msg)
	})
}

func (s *Server) deleteTrust(c echo.Context, r *catalog.Repository, confirm string, deleteKeys bool) error {
	if err := checkConfirm(r, confirm); err != nil {
		return err
	}
	u := currentUser(c)
	deleted, err := s.Removal.DeleteTrust(c.Request().Context(), r, u.Username, deleteKeys)
	for _, id := range deleted {
		s.Audit.Record(c.Request().Context(), audit.Event{Actor: u.Username, Action: audit.KeyDelete, GUN: r.GUN,
			Namespace: r.Namespace, Name: r.Name, Detail: "key " + id + " deleted with the trust data"})
	}
	return s.changed(r, err)
}

func (s *Server) deleteTrustSubmit(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	if err := s.deleteTrust(c, r, c.FormValue("confirm"), c.FormValue("delete_keys") == "true"); err != nil {
		return s.wizardFailure(c, r, err)
	}
	return s.redirectWithNotice(c, r.Path()+"/delete", "Trust data of "+r.GUN+" deleted.")
}

func (s *Server) deleteRepository(c echo.Context, r *catalog.Repository) error {
	if err := s.Removal.DeleteRepository(c.Request().Context(), r.Namespace, r.Name); err != nil {
		return err
	}
	s.Audit.Record(c.Request().Context(), audit.Event{Actor: currentUser(c).Username, Action: audit.RepoDelete,
		GUN: r.GUN, Namespace: r.Namespace, Name: r.Name})
	return nil
}

func (s *Server) deleteRepositorySubmit(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	if err := checkConfirm(r, c.FormValue("confirm")); err != nil {
		return s.wizardFailure(c, r, err)
	}
	if err := s.deleteRepository(c, r); err != nil {
		return s.wizardFailure(c, r, err)
	}
	return s.redirectWithNotice(c, "/repositories", "Repository "+r.FullName()+" deleted.")
}

// trustBackup serves the backup archive to anyone who may read the
// repository (the same metadata any Notary client with pull may fetch).
func (s *Server) trustBackup(c echo.Context) error {
	r, _, err := s.repoForRead(c)
	if err != nil {
		return err
	}
	name, archive, err := s.Removal.Backup(c.Request().Context(), r.GUN, currentUser(c).Username)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "application/gzip", archive)
}

func (s *Server) apiDeleteTrust(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	var in struct {
		Confirm    string `json:"confirm"`
		DeleteKeys bool   `json:"delete_keys"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := s.deleteTrust(c, r, in.Confirm, in.DeleteKeys); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// --- revoke a signed tag (docker trust revoke) ---

func (s *Server) tagRevokeModel(c echo.Context, r *catalog.Repository, tag string) (views.TagRevokeForm, error) {
	plan, err := s.Signers.PlanTagRevoke(c.Request().Context(), r.GUN, tag)
	if err != nil {
		return views.TagRevokeForm{}, err
	}
	f := views.TagRevokeForm{Namespace: r.Namespace, Name: r.Name, GUN: r.GUN, Tag: tag}
	for _, role := range plan.Roles {
		f.Roles = append(f.Roles, views.TagRevokeRole{Role: role.Role, Digest: role.Digest, VaultKeyID: role.VaultKeyID})
	}
	return f, nil
}

func (s *Server) tagRevokeForm(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	f, err := s.tagRevokeModel(c, r, c.QueryParam("tag"))
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.TagRevokePage(s.page(c, "Revoke tag", "repositories"), f))
}

func (s *Server) revokeTag(c echo.Context, r *catalog.Repository, tag string, keys map[string]signers.RepoKey) ([]string, error) {
	u := currentUser(c)
	var removed []string
	err := s.Accounts.GuardKeyPassphrase(u, "wrong_passphrase", func() (err error) {
		removed, err = s.Signers.RevokeTag(c.Request().Context(), r.GUN, tag, keys, u.Username)
		return err
	})
	return removed, s.changed(r, err)
}

// tagRevokedNotice says what revoking tag did (removed from roles: none
// when it was revoked already).
func tagRevokedNotice(r *catalog.Repository, tag string, roles []string) string {
	if len(roles) == 0 {
		return "Tag " + tag + " is not signed in " + r.GUN + " any more: the earlier revocation took effect; nothing changed."
	}
	return "Tag " + tag + " revoked."
}

func (s *Server) tagRevokeSubmit(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	tag := c.FormValue("tag")
	keys := map[string]signers.RepoKey{}
	for i := 0; i < 64; i++ {
		n := itoa(i)
		role := c.FormValue("role_" + n)
		if role == "" {
			break
		}
		pass := c.FormValue("pass_" + n)
		file, ferr := formFile(c, "key_"+n)
		if ferr != nil {
			err = ferr
			break
		}
		if pass != "" || file != nil {
			keys[role] = signers.RepoKey{Passphrase: pass, OneOffPEM: file}
		}
	}
	var removed []string
	if err == nil {
		removed, err = s.revokeTag(c, r, tag, keys)
	}
	if err != nil {
		return s.formFailure(c, r.Path(), err, func(status int, msg string) error {
			f, ferr := s.tagRevokeModel(c, r, tag)
			if ferr != nil {
				return ferr
			}
			f.Error = msg
			return render(c, status, views.TagRevokePage(s.page(c, "Revoke tag", "repositories"), f))
		})
	}
	return s.redirectWithNotice(c, r.Path(), tagRevokedNotice(r, tag, removed))
}

func (s *Server) apiRevokeTag(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	var in struct {
		Tag  string `json:"tag"`
		Keys map[string]struct {
			Passphrase string `json:"passphrase"`
			Key        string `json:"key"`
		} `json:"keys"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	keys := map[string]signers.RepoKey{}
	for role, k := range in.Keys {
		rk := signers.RepoKey{Passphrase: k.Passphrase}
		if k.Key != "" {
			rk.OneOffPEM = []byte(k.Key)
		}
		keys[role] = rk
	}
	removed, err := s.revokeTag(c, r, in.Tag, keys)
	if err != nil {
		return err
	}
	out := map[string]any{"tag": in.Tag, "removed_from": nonNil(removed)}
	if len(removed) == 0 {
		out["already"], out["message"] = true, tagRevokedNotice(r, in.Tag, removed)
	}
	return c.JSON(http.StatusOK, out)
}
