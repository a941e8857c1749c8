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
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/names"
	"github.com/trustdeck/trustdeck/internal/views"
)

// auditQuery builds the query from ?repository=ns/name&actor=&action=&from=&to=&before=ID
// and checks the caller administers what it asks for: one repository needs
// admin on its namespace; no repository lists every namespace the caller
// administers. from and to are days (YYYY-MM-DD, UTC), both included;
// action is one the audit records, or a family ("trust.").
func (s *Server) auditQuery(c echo.Context) (audit.Query, error) {
	ctx := c.Request().Context()
	u := currentUser(c)
	q := audit.Query{Limit: 100}
	if b := c.QueryParam("before"); b != "" {
		id, err := strconv.ParseInt(b, 10, 64)
		if err != nil || id < 1 {
			return q, errs.Invalidf("invalid_query", "before must be a positive event id.")
		}
		q.BeforeID = id
	}
	if err := auditFilters(c, &q); err != nil {
		return q, err
	}
	if repo := c.QueryParam("repository"); repo != "" {
		ns, name, ok := strings.Cut(repo, "/")
		if !ok {
			return q, errs.Invalidf("invalid_name", "repository must be namespace/name (or ~/<GUN> outside the registry host).")
		}
		check := names.Repository
		if ns == names.Foreign {
			check = func(_, gun string) error { return names.GUN(gun) }
		}
		if err := check(ns, name); err != nil {
			return q, err
		}
		if err := s.Accounts.Require(ctx, u, ns, accounts.RoleAdmin); err != nil {
			return q, err
		}
		q.Namespace, q.Name = ns, name
		return q, nil
	}
	nss, err := s.Accounts.AdminNamespaces(ctx, u)
	if err != nil {
		return q, err
	}
	if nss != nil && len(nss) == 0 {
		return q, errs.Forbiddenf("forbidden", "The audit log is for global administrators and namespace administrators.")
	}
	q.Namespaces = nss
	return q, nil
}

// auditFilters reads the actor, action and days of an audit query.
func auditFilters(c echo.Context, q *audit.Query) error {
	q.Actor = strings.TrimSpace(c.QueryParam("actor"))
	if len(q.Actor) > 255 {
		return errs.Invalidf("invalid_query", "actor is longer than 255 characters.")
	}
	q.Action = c.QueryParam("action")
	if family, ok := strings.CutSuffix(q.Action, "."); q.Action != "" && !audit.Known(q.Action) && !(ok && family != "" && !strings.Contains(family, ".")) {
		return errs.Invalidf("invalid_query", "action %q is not one the audit records.", q.Action)
	}
	day := func(param string) (time.Time, error) {
		v := c.QueryParam(param)
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return t, errs.Invalidf("invalid_query", "%s must be a day, YYYY-MM-DD: %q is not one.", param, v)
		}
		return t, nil
	}
	var err error
	if q.Since, err = day("from"); err != nil {
		return err
	}
	until, err := day("to")
	if err != nil {
		return err
	}
	if !until.IsZero() {
		q.Until = until.AddDate(0, 0, 1)
	}
	return nil
}

func (s *Server) apiAudit(c echo.Context) error {
	q, err := s.auditQuery(c)
	if err != nil {
		return err
	}
	events, err := s.Audit.List(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"events": events})
}

func (s *Server) auditPage(c echo.Context) error {
	q, err := s.auditQuery(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	events, err := s.Audit.List(ctx, q)
	if err != nil {
		return err
	}
	params := c.QueryParams()
	m := views.AuditView{Repository: params.Get("repository"), Actor: params.Get("actor"), Action: params.Get("action"),
		From: params.Get("from"), To: params.Get("to")}
	for _, a := range audit.Actions {
		m.Actions = append(m.Actions, views.AuditAction{Action: a.Action, Label: a.Does})
	}
	exists := map[string]bool{} // repositories looked up, by path
	for _, e := range events {
		row := views.AuditRow{At: e.At, Actor: e.Actor, Action: e.Action, GUN: e.GUN, Detail: e.Detail,
			Source: e.Source, Summary: audit.Describe(e)}
		if e.Namespace != "" && e.Name != "" {
			path := names.RepoPath(e.Namespace, e.Name)
			ok, seen := exists[path]
			if !seen {
				_, err := s.Catalog.Get(ctx, e.Namespace, e.Name)
				ok, exists[path] = err == nil, err == nil
			}
			if ok {
				row.Path, row.Repository = path, names.Display(e.Namespace, e.Name)
			}
		}
		m.Events = append(m.Events, row)
	}
	if len(events) == q.Limit {
		older := url.Values{}
		for _, k := range []string{"repository", "actor", "action", "from", "to"} {
			if v := params.Get(k); v != "" {
				older.Set(k, v)
			}
		}
		older.Set("before", strconv.FormatInt(events[len(events)-1].ID, 10))
		m.OlderURL = "/audit?" + older.Encode()
	}
	return render(c, http.StatusOK, views.AuditPage(s.page(c, "Audit", "audit"), m))
}
