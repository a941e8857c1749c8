package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/errs"
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
		for _, rm := range st.Repo.Roles {
			w.Roles = append(w.Roles, views.ExpiryRow{Role: rm.Role, Version: rm.Version, Expires: rm.Expires})
		}
	}
	for _, k := range st.VaultKeys {
		w.VaultKeys = append(w.VaultKeys, views.VaultKeyRow{ID: k.ID, Role: k.Role, GUN: k.GUN, CreatedBy: k.CreatedBy, CreatedAt: k.CreatedAt})
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
// the wizard itself, with the real state.
func (s *Server) wizardFailure(c echo.Context, r *catalog.Repository, err error) error {
	if !userError(err) {
		return err
	}
	status, _, msg := classify(err)
	return s.deleteWizard(c, r, status, msg)
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
	return err
}

func (s *Server) deleteTrustSubmit(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	if err := s.deleteTrust(c, r, c.FormValue("confirm"), c.FormValue("delete_keys") == "true"); err != nil {
		return s.wizardFailure(c, r, err)
	}
	return s.redirectWithNotice(c, "/repositories/"+r.Namespace+"/"+r.Name+"/delete", "Trust data of "+r.GUN+" deleted.")
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
