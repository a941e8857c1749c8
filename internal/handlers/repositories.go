package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/accounts"
	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/names"
	"github.com/trustdeck/trustdeck/internal/views"
)

// repoForRead loads the repository of the route after checking the caller
// may read its namespace. Without read the answer is 404, whether or not the
// repository exists, so names do not leak.
func (s *Server) repoForRead(c echo.Context) (*catalog.Repository, accounts.Role, error) {
	ns := c.Param("ns")
	name := names.NameFromPath(ns, c.Param("name"))
	role, err := s.Accounts.RoleIn(c.Request().Context(), currentUser(c), ns)
	if err != nil {
		return nil, role, err
	}
	if role < accounts.RoleRead {
		return nil, role, errs.NotFoundf("repository_not_found", "There is no repository %s you can see.", names.Display(ns, name))
	}
	r, err := s.Catalog.Get(c.Request().Context(), ns, name)
	return r, role, err
}

func parsePage(c echo.Context) (int, error) {
	p := c.QueryParam("page")
	if p == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 1_000_000 {
		return 0, errs.Invalidf("invalid_page", "The page must be a positive number.")
	}
	return n, nil
}

// listRepositories returns the page of repositories the caller may read, and
// the namespaces they may read (nil: all).
func (s *Server) listRepositories(c echo.Context) (*catalog.Page, []string, error) {
	page, err := parsePage(c)
	if err != nil {
		return nil, nil, err
	}
	visible, err := s.Accounts.VisibleNamespaces(c.Request().Context(), currentUser(c))
	if err != nil {
		return nil, nil, err
	}
	p, err := s.Catalog.List(c.Request().Context(), catalog.ListQuery{Search: c.QueryParam("q"), Namespaces: visible,
		Page: page, Sort: c.QueryParam("sort"), Filter: c.QueryParam("filter")})
	return p, visible, err
}

// canCreateSomewhere reports whether the caller administers any namespace.
func (s *Server) canCreateSomewhere(c echo.Context) (bool, []string, error) {
	ns, err := s.Accounts.AdminNamespaces(c.Request().Context(), currentUser(c))
	if err != nil {
		return false, nil, err
	}
	return ns == nil || len(ns) > 0, ns, nil
}

func (s *Server) repositoryList(c echo.Context) error {
	p, visible, err := s.listRepositories(c)
	if err != nil {
		return err
	}
	expired, expiring, err := s.Catalog.Expiring(c.Request().Context(), visible)
	if err != nil {
		return err
	}
	canCreate, _, err := s.canCreateSomewhere(c)
	if err != nil {
		return err
	}
	q, sort, filter := c.QueryParam("q"), c.QueryParam("sort"), c.QueryParam("filter")
	l := views.RepoList{Query: q, Sort: sort, Filter: filter, Total: p.Total, Page: p.Page, Pages: max(p.Pages, 1), CanCreate: canCreate}
	l.Discovery = s.discoveryState(c)
	l.Registry = s.Registry != nil
	l.Expired, l.Expiring = expired, expiring
	if s.Archives != nil {
		if l.Archived, err = s.latestArchiveRows(c); err != nil {
			return err
		}
	}
	now := time.Now()
	for _, r := range p.Repositories {
		row := views.RepoRow{Namespace: r.Namespace, Name: r.Name, GUN: r.GUN,
			CreatedAt: r.CreatedAt, Trust: trustStateView(r.Trust, now)}
		if g := r.Registry; g != nil {
			row.Registry = &views.RepoRegistryCounts{Tags: g.Tags, Unsigned: g.Unsigned, Drifted: g.Drifted,
				Missing: g.Missing, Failing: g.UnknownSince != nil}
		}
		l.Rows = append(l.Rows, row)
	}
	pageURL := func(n int) string {
		v := url.Values{}
		for k, val := range map[string]string{"q": q, "sort": sort, "filter": filter} {
			if val != "" {
				v.Set(k, val)
			}
		}
		v.Set("page", strconv.Itoa(n))
		return "/repositories?" + v.Encode()
	}
	if p.Page > 1 {
		l.PrevURL = pageURL(p.Page - 1)
	}
	if p.Page < p.Pages {
		l.NextURL = pageURL(p.Page + 1)
	}
	return render(c, http.StatusOK, views.RepositoryListPage(s.page(c, "Repositories", "repositories"), l))
}

func (s *Server) repositoryNewForm(c echo.Context) error {
	canCreate, nss, err := s.canCreateSomewhere(c)
	if err != nil {
		return err
	}
	if !canCreate {
		return errs.Forbiddenf("forbidden", "Only global administrators and namespace administrators create repositories.")
	}
	return render(c, http.StatusOK, views.NewRepositoryPage(s.page(c, "New repository", "repositories"),
		views.RepoForm{Namespaces: nss, AcceptGUN: s.acceptsGUN(c), RegistryHost: s.Catalog.RegistryHost()}))
}

// acceptsGUN reports whether the caller may name a new repository by a whole
// GUN: global administrators, when the catalog lists GUNs outside the
// registry host (in front of an external Notary server).
func (s *Server) acceptsGUN(c echo.Context) bool {
	u := currentUser(c)
	return s.Catalog.AcceptsForeign() && u != nil && u.IsAdmin
}

// newRepositoryName is the namespace and name of a repository to create,
// given by namespace and name or, where accepted, by a whole GUN.
func (s *Server) newRepositoryName(ns, name, gun string) (string, string, error) {
	if strings.TrimSpace(gun) == "" {
		return strings.TrimSpace(ns), strings.TrimSpace(name), nil
	}
	return s.Catalog.ParseGUN(gun)
}

// createRepository checks the caller administers the namespace, then creates.
func (s *Server) createRepository(c echo.Context, ns, name string) (*catalog.Repository, error) {
	u := currentUser(c)
	if err := s.Accounts.Require(c.Request().Context(), u, ns, accounts.RoleAdmin); err != nil {
		return nil, err
	}
	r, err := s.Catalog.Create(c.Request().Context(), ns, name, u.Username)
	if err == nil {
		if s.Summaries != nil {
			s.Summaries.Enqueue(ns, name)
		}
		s.Audit.Record(c.Request().Context(), audit.Event{Actor: u.Username, Action: audit.RepoCreate,
			GUN: r.GUN, Namespace: r.Namespace, Name: r.Name})
	}
	return r, err
}

func (s *Server) repositoryCreate(c echo.Context) error {
	gun := strings.TrimSpace(c.FormValue("gun"))
	ns, name, err := s.newRepositoryName(c.FormValue("namespace"), c.FormValue("name"), gun)
	var r *catalog.Repository
	if err == nil {
		r, err = s.createRepository(c, ns, name)
	}
	if err != nil {
		kind := errs.KindOf(err)
		if kind != errs.Invalid && kind != errs.Conflict {
			return err
		}
		status, _, msg := classify(err)
		_, nss, _ := s.canCreateSomewhere(c)
		return render(c, status, views.NewRepositoryPage(s.page(c, "New repository", "repositories"),
			views.RepoForm{Namespace: strings.TrimSpace(c.FormValue("namespace")), Name: strings.TrimSpace(c.FormValue("name")),
				GUN: gun, AcceptGUN: s.acceptsGUN(c), Error: msg, Namespaces: nss, RegistryHost: s.Catalog.RegistryHost()}))
	}
	return s.redirectWithNotice(c, r.Path(), "Repository "+r.FullName()+" created.")
}

func (s *Server) repositoryShow(c echo.Context) error {
	r, role, err := s.repoForRead(c)
	if err != nil {
		return err
	}
	tv, err := s.trustView(c, r)
	if err != nil {
		return err
	}
	p := s.page(c, r.FullName(), "repositories")
	d := views.RepoDetail{
		Namespace: r.Namespace, Name: r.Name, GUN: r.GUN, RegistryHost: s.Catalog.RegistryHost(),
		CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy, Role: role.String(), Trust: tv,
		CanManage: role >= accounts.RoleAdmin,
	}
	// A change's notice shows in the section that changed, which only
	// readable trust data has; otherwise at the top.
	if p.NoticeAt != "" && tv.State == "ok" {
		d.Notice = views.SectionNotice{Text: p.Notice, At: p.NoticeAt, Changed: p.Changed}
		p.Notice = ""
	}
	return render(c, http.StatusOK, views.RepositoryPage(p, d))
}

// --- JSON API ---

type repositoryListJSON struct {
	Repositories []catalog.Repository `json:"repositories"`
	Total        int                  `json:"total"`
	Page         int                  `json:"page"`
	Pages        int                  `json:"pages"`
	PerPage      int                  `json:"per_page"`
}

func (s *Server) apiRepositoryList(c echo.Context) error {
	p, _, err := s.listRepositories(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, repositoryListJSON{Repositories: p.Repositories, Total: p.Total,
		Page: p.Page, Pages: p.Pages, PerPage: catalog.PageSize})
}

func (s *Server) apiRepositoryCreate(c echo.Context) error {
	var in struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
		GUN       string `json:"gun"` // instead of namespace and name
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	ns, name, err := s.newRepositoryName(in.Namespace, in.Name, in.GUN)
	if err != nil {
		return err
	}
	r, err := s.createRepository(c, ns, name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, r)
}

func (s *Server) apiRepositoryGet(c echo.Context) error {
	r, _, err := s.repoForRead(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

func (s *Server) apiRepositoryDelete(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	if err := s.deleteRepository(c, r); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// discoveryState reports the changefeed's state; the server's address and
// the error's detail are for global administrators.
func (s *Server) discoveryState(c echo.Context) *views.DiscoveryState {
	if s.Changefeed == nil {
		return nil
	}
	st := s.Changefeed.Status()
	d := &views.DiscoveryState{Failing: st.Error != "", LastRead: st.LastRead}
	if u := currentUser(c); u != nil && u.IsAdmin {
		d.Server, d.Error = st.URL, st.Error
	}
	return d
}

// trustStateView turns a stored summary into the list's view model.
func trustStateView(t *catalog.TrustState, now time.Time) views.RepoTrustState {
	if t == nil {
		return views.RepoTrustState{State: "unknown"}
	}
	v := views.RepoTrustState{State: t.State, SignedTags: t.SignedTags, Signers: t.Signers,
		ExpiryRole: t.NearestExpiryRole}
	if t.LastSigned != nil {
		v.LastSigned = *t.LastSigned
	}
	if t.NearestExpiry != nil {
		v.NearestExpiry = *t.NearestExpiry
		v.ExpiryStatus = expiryStatus(v.NearestExpiry, now)
	}
	return v
}

// expiryStatus classifies an expiry as the pages show it.
func expiryStatus(at, now time.Time) string {
	switch {
	case !at.After(now):
		return "expired"
	case at.Sub(now) <= catalog.ExpiringWithin:
		return "expiring"
	}
	return "ok"
}
