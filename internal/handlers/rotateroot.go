package handlers

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/signers"
	"github.com/trustdeck/trustdeck/internal/views"
)

// --- rotate the root key (notary key rotate <gun> root) ---

func (s *Server) rotateRootModel(c echo.Context, r *catalog.Repository) (views.RotateRootForm, error) {
	plan, err := s.Signers.PlanRotateRoot(c.Request().Context(), r.GUN)
	if err != nil {
		return views.RotateRootForm{}, err
	}
	return views.RotateRootForm{Namespace: r.Namespace, Name: r.Name, GUN: r.GUN, Version: plan.Version,
		Expires: plan.Expires, CertificateExpires: plan.CertificateExpires, KeyIDs: plan.KeyIDs,
		CertificateIDs: plan.CertificateIDs, VaultKeyID: plan.VaultKeyID, NewExpires: plan.NewExpires}, nil
}

func (s *Server) rotateRootForm(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	m, err := s.rotateRootModel(c, r)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.RotateRootPage(s.page(c, "Rotate root key", "repositories"), m))
}

func (s *Server) rotateRoot(c echo.Context, r *catalog.Repository, key signers.RootKey, newPass string) (*signers.RootRotation, error) {
	u := currentUser(c)
	var res *signers.RootRotation
	err := s.Accounts.GuardKeyPassphrase(u, "wrong_passphrase", func() (err error) {
		res, err = s.Signers.RotateRoot(c.Request().Context(), r.GUN, key, newPass, u.Username)
		return err
	})
	return res, s.changed(r, err)
}

func (s *Server) rotateRootSubmit(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	refused := func(status int, e views.FormErrors) error {
		m, err := s.rotateRootModel(c, r)
		if err != nil {
			return err
		}
		m.Errors = e
		return render(c, status, views.RotateRootPage(s.page(c, "Rotate root key", "repositories"), m))
	}
	newPass := c.FormValue("new_root_passphrase")
	var p problems
	oneOff, err := formFile(c, "key_file")
	if err := p.add("key_file", err); err != nil {
		return err
	}
	p.require("root_passphrase", c.FormValue("root_passphrase"), "Type the passphrase of the current root key.")
	p.newPassphrase("new_root_passphrase", newPass, c.FormValue("new_root_passphrase_confirm"), "new root key")
	if p.any() {
		return refused(p.status, p.list)
	}
	res, err := s.rotateRoot(c, r, signers.RootKey{Passphrase: c.FormValue("root_passphrase"), OneOffPEM: oneOff}, newPass)
	if err != nil {
		return s.formFailure(c, r.Path()+"#expiry", err, func(status int, msg string) error {
			fields := keyFields("key_file", "root_passphrase")
			fields["passphrase_too_short"] = "new_root_passphrase"
			return refused(status, refusal(err, msg, fields))
		})
	}
	return s.redirectWithNoticeAt(c, r.Path(), "admin-keys", fmt.Sprintf(
		"Root key rotated: new root key %s (in the vault, under the new passphrase), root version %d, expires %s.",
		res.KeyID, res.Version, views.FormatTime(res.Expires)), "root-key", "role-root")
}

func (s *Server) apiRotateRoot(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	var in struct {
		RootPassphrase    string `json:"root_passphrase"`
		RootKey           string `json:"root_key"` // optional: the current root key's PEM, used once
		NewRootPassphrase string `json:"new_root_passphrase"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	key := signers.RootKey{Passphrase: in.RootPassphrase}
	if in.RootKey != "" {
		key.OneOffPEM = []byte(in.RootKey)
	}
	res, err := s.rotateRoot(c, r, key, in.NewRootPassphrase)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{
		"gun":                           r.GUN,
		"root_key_id":                   res.KeyID,
		"root_certificate_id":           res.CertificateID,
		"previous_root_key_ids":         res.PreviousKeyIDs,
		"previous_root_certificate_ids": res.PreviousCertificateIDs,
		"version":                       res.Version,
		"expires":                       res.Expires.UTC().Format(time.RFC3339),
		"certificate_expires":           res.CertificateExpires.UTC().Format(time.RFC3339),
		"previous_version":              res.PreviousVersion,
		"previous_expires":              res.PreviousExpires.UTC().Format(time.RFC3339),
	})
}
