package handlers

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/accounts"
	"github.com/trustdeck/trustdeck/internal/audit"
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
		PasswordRule: accounts.PasswordRule, Namespaces: administered}
	seen := map[string]bool{}
	for _, u := range list {
		row := views.UserRow{Username: u.Username, IsAdmin: u.IsAdmin, Disabled: !u.DisabledAt.IsZero(), CreatedAt: u.CreatedAt}
		for ns, r := range u.Roles {
			if administered != nil && !slices.Contains(administered, ns) {
				continue
			}
			row.Roles = append(row.Roles, views.NamespaceRole{Namespace: ns, Role: r})
			if administered == nil && !seen[ns] {
				seen[ns] = true
				m.Namespaces = append(m.Namespaces, ns)
			}
		}
		sort.Slice(row.Roles, func(i, j int) bool { return row.Roles[i].Namespace < row.Roles[j].Namespace })
		m.Users = append(m.Users, row)
	}
	sort.Strings(m.Namespaces)
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

// usersFormFailure re-renders the users page with the error at its field
// (fields: the error codes' field ids, "" for the whole form) when the
// error is the user's; anything else goes to the error handler.
func (s *Server) usersFormFailure(c echo.Context, err error, fields map[string]string, fill func(*views.UsersAdmin, views.FormErrors)) error {
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
	fill(&m, refusal(err, msg, fields))
	return render(c, status, views.UsersPage(s.page(c, "Users", "users"), m))
}

// createUserFields place the create-user form's refusals.
var createUserFields = map[string]string{"invalid_username": "new-username", "user_exists": "new-username",
	"weak_password": "new-password", "common_password": "new-password", "password_too_short": "new-password",
	"password_too_long": "new-password"}

func (s *Server) userCreateForm(c echo.Context) error {
	if err := requireGlobalAdmin(c); err != nil {
		return err
	}
	username := strings.TrimSpace(c.FormValue("username"))
	admin := c.FormValue("admin") == "true"
	if _, err := s.createUser(c, username, c.FormValue("password"), admin); err != nil {
		return s.usersFormFailure(c, err, createUserFields, func(m *views.UsersAdmin, e views.FormErrors) {
			m.CreateErrors, m.Form = e, views.UserForm{Username: username, Admin: admin}
		})
	}
	return s.redirectWithNotice(c, "/admin/users", "User "+username+" created.")
}

// createUser creates an account and audits it.
func (s *Server) createUser(c echo.Context, username, password string, admin bool) (*accounts.User, error) {
	u, err := s.Accounts.CreateUser(c.Request().Context(), username, password, admin)
	if err != nil {
		return nil, err
	}
	detail := "user " + u.Username
	if u.IsAdmin {
		detail += " (global administrator)"
	}
	s.Audit.Record(c.Request().Context(), audit.Event{Actor: currentUser(c).Username, Action: audit.UserCreate, Detail: detail})
	return u, nil
}

// setRole checks the caller administers the namespace, then grants.
func (s *Server) setRole(c echo.Context, ns, username, role string) error {
	if err := s.Accounts.Require(c.Request().Context(), currentUser(c), ns, accounts.RoleAdmin); err != nil {
		return err
	}
	if err := s.Accounts.SetRole(c.Request().Context(), ns, username, role); err != nil {
		return err
	}
	s.Audit.Record(c.Request().Context(), audit.Event{Actor: currentUser(c).Username, Action: audit.MemberSet,
		Namespace: ns, Detail: username + " has the " + role + " role in " + ns})
	return nil
}

// roleFields place the set-role form's refusals.
var roleFields = map[string]string{"user_not_found": "role-username", "invalid_username": "role-username",
	"invalid_name": "role-namespace", "invalid_role": "role-role"}

func (s *Server) memberSetForm(c echo.Context) error {
	ns := strings.TrimSpace(c.FormValue("namespace"))
	username := strings.TrimSpace(c.FormValue("username"))
	role := c.FormValue("role")
	if err := s.setRole(c, ns, username, role); err != nil {
		return s.usersFormFailure(c, err, roleFields, func(m *views.UsersAdmin, e views.FormErrors) {
			m.RoleErrors, m.RoleForm = e, views.RoleForm{Username: username, Namespace: ns, Role: role}
		})
	}
	return s.redirectWithNotice(c, "/admin/users", username+" now has the "+role+" role in "+ns+".")
}

// removeRole checks the caller administers the namespace, then takes the
// role away.
func (s *Server) removeRole(c echo.Context, ns, username string) error {
	if err := s.Accounts.Require(c.Request().Context(), currentUser(c), ns, accounts.RoleAdmin); err != nil {
		return err
	}
	if err := s.Accounts.RemoveRole(c.Request().Context(), ns, username); err != nil {
		return err
	}
	s.Audit.Record(c.Request().Context(), audit.Event{Actor: currentUser(c).Username, Action: audit.MemberRemove,
		Namespace: ns, Detail: username + " no longer has a role in " + ns})
	return nil
}

func (s *Server) memberRemoveForm(c echo.Context) error {
	ns, username := c.FormValue("namespace"), c.FormValue("username")
	if err := s.removeRole(c, ns, username); err != nil {
		return err
	}
	return s.redirectWithNotice(c, "/admin/users/"+url.PathEscape(username), username+" no longer has a role in "+ns+".")
}

// --- one account ---

// userPageModel is the page of the route's account for the viewer: 404 when
// there is no such account.
func (s *Server) userPageModel(c echo.Context) (views.UserPage, error) {
	if err := s.requireSomeAdmin(c); err != nil {
		return views.UserPage{}, err
	}
	m, err := s.usersModel(c)
	if err != nil {
		return views.UserPage{}, err
	}
	me := currentUser(c)
	for _, row := range m.Users {
		if row.Username != c.Param("username") {
			continue
		}
		p := views.UserPage{User: row, Manage: me.IsAdmin && row.Username != me.Username, PasswordRule: accounts.PasswordRule}
		for _, r := range row.Roles {
			p.Removable = append(p.Removable, r.Namespace) // usersModel kept the viewer's namespaces only
		}
		return p, nil
	}
	return views.UserPage{}, errs.NotFoundf("user_not_found", "There is no user named %q.", c.Param("username"))
}

func (s *Server) userPage(c echo.Context) error {
	m, err := s.userPageModel(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.UserAccountPage(s.page(c, m.User.Username, "users"), m))
}

// userPageFailure shows a refused change of an account on its page, at the
// field fields name for its code.
func (s *Server) userPageFailure(c echo.Context, err error, fields map[string]string) error {
	if !userError(err) {
		return err
	}
	status, _, msg := classify(err)
	m, mErr := s.userPageModel(c)
	if mErr != nil {
		return mErr
	}
	m.Errors = refusal(err, msg, fields)
	return render(c, status, views.UserAccountPage(s.page(c, m.User.Username, "users"), m))
}

// setDisabled disables or enables the route's account and audits it.
func (s *Server) setDisabled(c echo.Context, disabled bool) error {
	if err := requireGlobalAdmin(c); err != nil {
		return err
	}
	username := c.Param("username")
	if err := s.Accounts.SetDisabled(c.Request().Context(), currentUser(c), username, disabled); err != nil {
		return err
	}
	action := audit.UserEnable
	if disabled {
		action = audit.UserDisable
	}
	s.Audit.Record(c.Request().Context(), audit.Event{Actor: currentUser(c).Username, Action: action, Detail: "user " + username})
	return nil
}

func (s *Server) userDisabledForm(c echo.Context) error {
	disabled := c.FormValue("disabled") == "true"
	if err := s.setDisabled(c, disabled); err != nil {
		return s.userPageFailure(c, err, nil)
	}
	msg := c.Param("username") + " is enabled again."
	if disabled {
		msg = c.Param("username") + " is disabled: their sessions ended and their registry tokens no longer work."
	}
	return s.redirectWithNotice(c, "/admin/users/"+url.PathEscape(c.Param("username")), msg)
}

// resetPassword sets the route's account's password and audits it.
func (s *Server) resetPassword(c echo.Context, password string) error {
	if err := requireGlobalAdmin(c); err != nil {
		return err
	}
	username := c.Param("username")
	if err := s.Accounts.ResetPassword(c.Request().Context(), currentUser(c), username, password); err != nil {
		return err
	}
	s.Audit.Record(c.Request().Context(), audit.Event{Actor: currentUser(c).Username, Action: audit.UserPasswordReset, Detail: "user " + username})
	return nil
}

// passwordFields place the new-password form's refusals.
var passwordFields = map[string]string{"weak_password": "new_password", "common_password": "new_password",
	"password_too_short": "new_password", "password_too_long": "new_password", "password_mismatch": "new_password_confirm"}

func (s *Server) userPasswordForm(c echo.Context) error {
	if err := requireGlobalAdmin(c); err != nil {
		return err
	}
	password := c.FormValue("new_password")
	err := errs.Invalidf("password_mismatch", "The two new passwords differ.")
	if password == c.FormValue("new_password_confirm") {
		err = s.resetPassword(c, password)
	}
	if err != nil {
		return s.userPageFailure(c, err, passwordFields)
	}
	return s.redirectWithNotice(c, "/admin/users/"+url.PathEscape(c.Param("username")),
		"New password set for "+c.Param("username")+": their sessions ended.")
}

// deleteUser deletes the route's account and audits it.
func (s *Server) deleteUser(c echo.Context) error {
	if err := requireGlobalAdmin(c); err != nil {
		return err
	}
	username := c.Param("username")
	if err := s.Accounts.DeleteUser(c.Request().Context(), currentUser(c), username); err != nil {
		return err
	}
	s.Audit.Record(c.Request().Context(), audit.Event{Actor: currentUser(c).Username, Action: audit.UserDelete, Detail: "user " + username})
	return nil
}

func (s *Server) userDeleteForm(c echo.Context) error {
	if err := requireGlobalAdmin(c); err != nil {
		return err
	}
	username := c.Param("username")
	err := errs.Invalidf("confirm_required", "Type the username (%s) to confirm.", username)
	if c.FormValue("confirm") == username {
		err = s.deleteUser(c)
	}
	if err != nil {
		return s.userPageFailure(c, err, map[string]string{"confirm_required": "confirm"})
	}
	return s.redirectWithNotice(c, "/admin/users", "User "+username+" deleted.")
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
	u, err := s.createUser(c, in.Username, in.Password, in.Admin)
	if err != nil {
		return err
	}
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

// apiUserUpdate disables or enables an account, or sets its password:
// {"disabled": bool} and/or {"password": "..."}.
func (s *Server) apiUserUpdate(c echo.Context) error {
	var in struct {
		Disabled *bool   `json:"disabled"`
		Password *string `json:"password"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Disabled == nil && in.Password == nil {
		return errs.Invalidf("nothing_to_change", "Give disabled (true or false), password, or both.")
	}
	if in.Password != nil {
		if err := s.resetPassword(c, *in.Password); err != nil {
			return err
		}
	}
	if in.Disabled != nil {
		if err := s.setDisabled(c, *in.Disabled); err != nil {
			return err
		}
	}
	u, err := s.Accounts.UserByName(c.Request().Context(), c.Param("username"))
	if err != nil {
		return err
	}
	out := map[string]any{"username": u.Username, "admin": u.IsAdmin}
	if in.Disabled != nil {
		out["disabled"] = *in.Disabled
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) apiUserDelete(c echo.Context) error {
	if err := s.deleteUser(c); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiMemberRemove(c echo.Context) error {
	if err := s.removeRole(c, c.Param("ns"), c.Param("username")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
