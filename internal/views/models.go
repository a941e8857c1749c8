// Package views holds trustdeck's templ components. Every component is a pure
// function of the view models in this file: no I/O, no services.
package views

import "time"

// Page carries what the layout needs on every page.
type Page struct {
	Title  string
	Viewer *Viewer // nil when nobody is signed in
	CSRF   string  // token for every form
	Nav    string  // active navigation entry
	Notice string  // one-off success message
}

// Viewer is the signed-in account.
type Viewer struct {
	Username string
	IsAdmin  bool
}

// LoginForm is the login page's state.
type LoginForm struct {
	Username string
	Next     string
	Error    string
}

// RepoRow is one line of the repository list.
type RepoRow struct {
	Namespace string
	Name      string
	GUN       string
	CreatedAt time.Time
}

// RepoList is the repository list page.
type RepoList struct {
	Query     string
	Rows      []RepoRow
	Total     int
	Page      int
	Pages     int
	PrevURL   string
	NextURL   string
	CanCreate bool
}

// RepoForm is the create-repository form.
type RepoForm struct {
	Namespace  string
	Name       string
	Error      string
	Namespaces []string // namespaces the viewer administers (suggestions); nil for global admins
}

// RepoDetail is the repository page.
type RepoDetail struct {
	Namespace    string
	Name         string
	GUN          string
	RegistryHost string
	CreatedAt    time.Time
	CreatedBy    string
	Role         string
}

// UserRow is one account on the admin page.
type UserRow struct {
	Username  string
	IsAdmin   bool
	CreatedAt time.Time
	Roles     []NamespaceRole
}

// NamespaceRole is a role held in a namespace.
type NamespaceRole struct {
	Namespace string
	Role      string
}

// UsersAdmin is the admin page for users and roles.
type UsersAdmin struct {
	Users       []UserRow
	CanCreate   bool // global admins create users
	CreateError string
	RoleError   string
	Form        UserForm
	RoleForm    RoleForm
}

// UserForm keeps what was typed into the create-user form.
type UserForm struct {
	Username string
	Admin    bool
}

// RoleForm keeps what was typed into the set-role form.
type RoleForm struct {
	Username  string
	Namespace string
	Role      string
}

// ErrorInfo is an error page.
type ErrorInfo struct {
	Status  int
	Title   string
	Message string
}

// FormatTime renders a timestamp the same way everywhere.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// AuditRow is one audit event.
type AuditRow struct {
	At     time.Time
	Actor  string
	Action string
	GUN    string
	Detail string
	Source string
}

// AuditView is the audit page.
type AuditView struct {
	Repository string
	Events     []AuditRow
	OlderURL   string
}
