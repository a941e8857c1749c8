package handlers

import (
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/accounts"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/views"
)

// requireGlobalAdmin refuses everyone but global administrators.
func requireGlobalAdmin(c echo.Context) error {
	if u := currentUser(c); u == nil || !u.IsAdmin {
		return errs.Forbiddenf("forbidden", "Only global administrators can do this.")
	}
	return nil
}

// requireSomeAdmin admits global admins and admins of at least one namespace.
func (s *Server) requireSomeAdmin(c echo.Context) error {
	ok, _, err := s.canCreateSomewhere(c)
	if err != nil {
		return err
	}
	if !ok {
		return errs.Forbiddenf("forbidden", "Only global administrators and namespace administrators manage users' roles.")
	}
	return nil
}

// usersModel lists every account (a namespace admin needs the names to grant
// roles) but shows a namespace admin only the roles in the namespaces they
// administer: other namespaces' names are not theirs to read.
func (s *Server) usersModel(c echo.Context) (views.UsersAdmin, error) {
	list, err := s.Accounts.ListUsers(c.Request().Context())
	if err != nil {
		return views.UsersAdmin{}, err
	}
	administered, err := s.Accounts.AdminNamespaces(c.Request().Context(), currentUser(c))
	if err != nil {
		return views.UsersAdmin{}, err
	}
	m := views.UsersAdmin{CanCreate: currentUser(c).IsAdmin, RoleForm: views.RoleForm{Role: "read"},
		PasswordRule: accounts.PasswordRule}
	for _, u := range list {
		row := views.UserRow{Username: u.Username, IsAdmin: u.IsAdmin, CreatedAt: u.CreatedAt}
		for ns, r := range u.Roles {
			if administered != nil && !slices.Contains(administered, ns) {
				continue
			}
			row.Roles = append(row.Roles, views.NamespaceRole{Namespace: ns, Role: r})
		}
		sort.Slice(row.Roles, func(i, j int) bool { return row.Roles[i].Namespace < row.Roles[j].Namespace })
		m.Users = append(m.Users, row)
	}
	return m, nil
}

func (s *Server) usersPage(c echo.Context) error {
	if err := s.requireSomeAdmin(c); err != nil {
		return err
	}
	m, err := s.usersModel(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.UsersPage(s.page(c, "Users", "users"), m))
}

// formFailure re-renders the users page with the error next to its form when
// the error is the user's; anything else goes to the error handler.
func (s *Server) usersFormFailure(c echo.Context, err error, fill func(*views.UsersAdmin, string)) error {
	switch errs.KindOf(err) {
	case errs.Invalid, errs.Conflict, errs.NotFound:
	default:
		return err
	}
	status, _, msg := classify(err)
	m, mErr := s.usersModel(c)
	if mErr != nil {
		return mErr
	}
	fill(&m, msg)
	return render(c, status, views.UsersPage(s.page(c, "Users", "users"), m))
}

func (s *Server) userCreateForm(c echo.Context) error {
	if err := requireGlobalAdmin(c); err != nil {
		return err
	}
	username := strings.TrimSpace(c.FormValue("username"))
	admin := c.FormValue("admin") == "true"
	if _, err := s.Accounts.CreateUser(c.Request().Context(), username, c.FormValue("password"), admin); err != nil {
		return s.usersFormFailure(c, err, func(m *views.UsersAdmin, msg string) {
			m.CreateError, m.Form = msg, views.UserForm{Username: username, Admin: admin}
		})
	}
	s.Log.Info("user created", "user", username, "admin", admin, "by", currentUser(c).Username)
	return s.redirectWithNotice(c, "/admin/users", "User "+username+" created.")
}

// setRole checks the caller administers the namespace, then grants.
func (s *Server) setRole(c echo.Context, ns, username, role string) error {
	if err := s.Accounts.Require(c.Request().Context(), currentUser(c), ns, accounts.RoleAdmin); err != nil {
		return err
	}
	if err := s.Accounts.SetRole(c.Request().Context(), ns, username, role); err != nil {
		return err
	}
	s.Log.Info("namespace role set", "namespace", ns, "user", username, "role", role, "by", currentUser(c).Username)
	return nil
}

func (s *Server) memberSetForm(c echo.Context) error {
	ns := strings.TrimSpace(c.FormValue("namespace"))
	username := strings.TrimSpace(c.FormValue("username"))
	role := c.FormValue("role")
	if err := s.setRole(c, ns, username, role); err != nil {
		return s.usersFormFailure(c, err, func(m *views.UsersAdmin, msg string) {
			m.RoleError, m.RoleForm = msg, views.RoleForm{Username: username, Namespace: ns, Role: role}
		})
	}
	return s.redirectWithNotice(c, "/admin/users", username+" now has the "+role+" role in "+ns+".")
}

type userJSON struct {
	Username string `json:"username"`
	Admin    bool   `json:"admin"`
}

func (s *Server) apiUserCreate(c echo.Context) error {
	if err := requireGlobalAdmin(c); err != nil {
		return err
	}
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Admin    bool   `json:"admin"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	u, err := s.Accounts.CreateUser(c.Request().Context(), in.Username, in.Password, in.Admin)
	if err != nil {
		return err
	}
	s.Log.Info("user created", "user", u.Username, "admin", u.IsAdmin, "by", currentUser(c).Username)
	return c.JSON(http.StatusCreated, userJSON{Username: u.Username, Admin: u.IsAdmin})
}

func (s *Server) apiMemberSet(c echo.Context) error {
	var in struct {
		Role string `json:"role"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	ns, username := c.Param("ns"), c.Param("username")
	if err := s.setRole(c, ns, username, in.Role); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"namespace": ns, "username": username, "role": in.Role})
}
