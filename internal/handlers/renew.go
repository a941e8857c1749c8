package handlers

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/signers"
	"github.com/trustdeck/trustdeck/internal/views"
)

// --- renew a role's expiry (notary witness + publish) ---

// renewRole is the role a renew request names: targets when none.
func renewRole(role string) string {
	if role == "" {
		return "targets"
	}
	return role
}

func (s *Server) renewModel(c echo.Context, r *catalog.Repository, role string) (views.RenewForm, error) {
	plan, err := s.Signers.PlanRenew(c.Request().Context(), r.GUN, role)
	if err != nil {
		return views.RenewForm{}, err
	}
	return views.RenewForm{Namespace: r.Namespace, Name: r.Name, GUN: r.GUN, Role: plan.Role, Version: plan.Version,
		Expires: plan.Expires, Expired: plan.Expired, NewExpires: plan.NewExpires, KeyIDs: plan.KeyIDs,
		VaultKeyID: plan.VaultKeyID}, nil
}

func (s *Server) renewForm(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	m, err := s.renewModel(c, r, renewRole(c.QueryParam("role")))
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.RenewPage(s.page(c, "Renew "+m.Role, "repositories"), m))
}

func (s *Server) renew(c echo.Context, r *catalog.Repository, role string, key signers.RepoKey) (*signers.Renewal, error) {
	u := currentUser(c)
	var res *signers.Renewal
	err := s.Accounts.GuardKeyPassphrase(u, "wrong_passphrase", func() (err error) {
		res, err = s.Signers.Renew(c.Request().Context(), r.GUN, role, key, u.Username)
		return err
	})
	return res, s.changed(r, err)
}

func (s *Server) renewSubmit(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	role := renewRole(c.FormValue("role"))
	refused := func(status int, e views.FormErrors) error {
		m, err := s.renewModel(c, r, role)
		if err != nil {
			return err
		}
		m.Errors = e
		return render(c, status, views.RenewPage(s.page(c, "Renew "+role, "repositories"), m))
	}
	var p problems
	oneOff, err := formFile(c, "key_file")
	if err := p.add("key_file", err); err != nil {
		return err
	}
	p.require("passphrase", c.FormValue("passphrase"), "Type the passphrase of the key.")
	if p.any() {
		return refused(p.status, p.list)
	}
	res, err := s.renew(c, r, role, signers.RepoKey{Passphrase: c.FormValue("passphrase"), OneOffPEM: oneOff})
	if err != nil {
		return s.formFailure(c, r.Path()+"#expiry", err, func(status int, msg string) error {
			return refused(status, refusal(err, msg, keyFields("key_file", "passphrase")))
		})
	}
	return s.redirectWithNoticeAt(c, r.Path(), "expiry", fmt.Sprintf("%s renewed: version %d, expires %s.",
		res.Role, res.Version, views.FormatTime(res.Expires)), "role-"+res.Role)
}

func (s *Server) apiRenew(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	var in struct {
		Role string `json:"role"`
		// The key of the role: repository_* for targets, as the other
		// trust operations name it; passphrase and key for any role.
		RepositoryPassphrase string `json:"repository_passphrase"`
		RepositoryKey        string `json:"repository_key"`
		Passphrase           string `json:"passphrase"`
		Key                  string `json:"key"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.RepositoryPassphrase != "" && in.Passphrase != "" || in.RepositoryKey != "" && in.Key != "" {
		return errs.Invalidf("ambiguous_key", "Give the key as passphrase and key, or as repository_passphrase and repository_key, not both.")
	}
	rk := signers.RepoKey{Passphrase: in.Passphrase + in.RepositoryPassphrase}
	if pemText := in.Key + in.RepositoryKey; pemText != "" {
		rk.OneOffPEM = []byte(pemText)
	}
	res, err := s.renew(c, r, renewRole(in.Role), rk)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"gun": r.GUN, "role": res.Role,
		"version": res.Version, "expires": res.Expires.UTC().Format(time.RFC3339),
		"previous_version": res.PreviousVersion, "previous_expires": res.PreviousExpires.UTC().Format(time.RFC3339)})
}
