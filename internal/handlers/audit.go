package handlers

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/accounts"
	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/names"
	"github.com/trustdeck/trustdeck/internal/views"
)

// auditQuery builds the query from ?repository=ns/name&before=ID and checks
// the caller administers what it asks for: one repository needs admin on its
// namespace; no repository lists every namespace the caller administers.
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
	events, err := s.Audit.List(c.Request().Context(), q)
	if err != nil {
		return err
	}
	m := views.AuditView{Repository: c.QueryParam("repository")}
	for _, e := range events {
		m.Events = append(m.Events, views.AuditRow{At: e.At, Actor: e.Actor, Action: e.Action,
			GUN: e.GUN, Detail: e.Detail, Source: e.Source})
	}
	if len(events) == q.Limit {
		m.OlderURL = "/audit?before=" + strconv.FormatInt(events[len(events)-1].ID, 10)
		if m.Repository != "" {
			m.OlderURL += "&repository=" + m.Repository
		}
	}
	return render(c, http.StatusOK, views.AuditPage(s.page(c, "Audit", "audit"), m))
}
