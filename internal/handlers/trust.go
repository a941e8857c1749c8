package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/accounts"
	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/httpenc"
	"github.com/trustdeck/trustdeck/internal/registry"
	"github.com/trustdeck/trustdeck/internal/trust"
	"github.com/trustdeck/trustdeck/internal/views"
)

// tagSorts are the signed-tags table's sort keys ("-" = descending).
var tagSorts = []string{"tag", "-tag", "digest", "-digest", "signers", "-signers"}

// trustView loads and verifies the repository's trust data and builds the
// repository page's trust section. Failures become the section's state, not
// an error page: the rest of the page stays useful.
func (s *Server) trustView(c echo.Context, r *catalog.Repository) (views.TrustView, error) {
	tv := views.TrustView{TagFilter: strings.TrimSpace(c.QueryParam("tag")), SignerFilter: c.QueryParam("signer"),
		Sort: c.QueryParam("sort"), InspectCommand: "docker trust inspect --pretty " + r.GUN}
	if tv.Sort == "" {
		tv.Sort = "tag"
	}
	if !slices.Contains(tagSorts, tv.Sort) {
		return tv, errs.Invalidf("invalid_query", "Sort the tags by tag, digest or signers.")
	}
	if len(tv.TagFilter) > 200 || len(tv.SignerFilter) > 200 {
		return tv, errs.Invalidf("invalid_query", "The filter is too long.")
	}
	tv.StateFilter = c.QueryParam("state")
	if tv.StateFilter != "" && !slices.Contains(views.TagStates, tv.StateFilter) {
		return tv, errs.Invalidf("invalid_query", "Filter by state signed, unsigned, drifted, missing or unknown.")
	}
	repo, err := s.Trust.Load(c.Request().Context(), r.GUN)
	switch {
	case errors.Is(err, trust.ErrNoTrustData):
		tv.State = "none"
	case err != nil:
		if errs.KindOf(err) == errs.Internal {
			return tv, err
		}
		state := "error"
		if errors.Is(err, trust.ErrExpired) {
			// Sound but for expiry, it can still be backed up; otherwise say
			// what else is wrong with it.
			_, aerr := s.Trust.LoadAllowingExpiry(c.Request().Context(), r.GUN)
			switch {
			case aerr == nil:
				state = "expired"
			case errors.Is(aerr, trust.ErrVerification):
				err = aerr
			}
		}
		_, _, msg := classify(err)
		tv.State, tv.Error = state, msg
	default:
		tv.State = "ok"
	}
	var res trust.InspectResult
	var rows []views.SignedTagRow
	if tv.State == "ok" {
		res = repo.Inspect(r.GUN, "")
		for _, t := range res.SignedTags {
			// Signers byte-sorted, as docker's pretty output lists them.
			rows = append(rows, views.SignedTagRow{Tag: t.SignedTag, Digest: t.Digest, Signers: slices.Sorted(slices.Values(t.Signers))})
		}
	}
	if s.Registry != nil && !r.Foreign {
		if rows, err = s.registryRows(c, r, &tv.Registry); err != nil {
			return tv, err
		}
	}
	if tv.State == "ok" {
		disagreeing := repo.Disagreeing()
		tv.Disagreeing = len(disagreeing)
		for i := range rows {
			rows[i].Disagree = disagreeing[rows[i].Tag]
		}
	}
	tv.TagCount = len(rows)
	for _, t := range rows {
		if tv.TagFilter != "" && !strings.Contains(t.Tag, tv.TagFilter) ||
			tv.SignerFilter != "" && !slices.Contains(t.Signers, tv.SignerFilter) ||
			tv.StateFilter != "" && t.State != tv.StateFilter {
			continue
		}
		tv.Tags = append(tv.Tags, t)
	}
	sortTagRows(tv.Tags, tv.Sort)
	if err := pageTagRows(c, &tv); err != nil {
		return tv, err
	}
	if err := s.pageSignatures(c, r, &tv); err != nil {
		return tv, err
	}
	if tv.State != "ok" {
		return tv, nil
	}
	now := time.Now()
	signers := repo.Signers()
	var ids []string
	for _, sg := range signers {
		for _, k := range sg.Keys {
			ids = append(ids, k.ID)
		}
	}
	registeredBy := map[string]string{}
	if s.UserKeys != nil {
		if registeredBy, err = s.UserKeys.RegisteredBy(c.Request().Context(), ids); err != nil {
			return tv, err
		}
	}
	for _, sg := range signers {
		row := views.SignerRow{Name: sg.Name}
		tv.SignerNames = append(tv.SignerNames, sg.Name)
		for _, k := range sg.Keys {
			kr := views.KeyRow{ID: k.ID, ShortID: k.ShortID(), Algorithm: k.Algorithm, Type: "public key",
				RegisteredBy: registeredBy[k.ID]}
			if k.Certificate {
				kr.Type, kr.Subject, kr.Expires = "x509 certificate", k.Subject, k.NotAfter
				kr.ExpiryStatus = expiryStatus(k.NotAfter, now)
			}
			row.Keys = append(row.Keys, kr)
		}
		tv.Signers = append(tv.Signers, row)
	}
	for _, k := range repo.TargetsKeys {
		tv.RepositoryKeys = append(tv.RepositoryKeys, k.TUFID)
	}
	for _, k := range repo.RootKeys {
		tv.RootKeys = append(tv.RootKeys, views.AdminKey{ID: k.ID, CertificateID: k.TUFID})
	}
	for _, e := range repo.Expiries(now) {
		tv.Expiries = append(tv.Expiries, views.ExpiryRow{Role: e.Role, Version: e.Version, Expires: e.Expires,
			Status: string(e.Status), Left: views.Relative(e.Expires, now)})
		if e.Role == trust.RoleRoot && e.Expires.Sub(now) <= trust.RootResignWithin {
			tv.RootResign = e.Expires
		}
	}
	for _, u := range repo.Unreleased() {
		tv.Unreleased = append(tv.Unreleased, views.UnreleasedRow{Tag: u.Tag, Digest: u.Digest, Roles: u.Roles})
	}
	if len(res.SignedTags) <= views.InlinePrettyTags {
		tv.Pretty = string(trust.FormatPretty([]trust.InspectResult{res}))
	} else {
		tv.PrettyURL = "/api/v1/trust/inspect?" + url.Values{"ref": {r.GUN}, "pretty": {"1"}}.Encode()
	}
	return tv, nil
}

// registryRows are the tags table's rows with the registry: every tag,
// signed or in the registry, with its state (the last known while the
// registry cannot be read, then "unknown"). Failures of the trust data are
// the trust section's to show: here they leave the registry's part empty.
func (s *Server) registryRows(c echo.Context, r *catalog.Repository, reg *views.RegistryView) ([]views.SignedTagRow, error) {
	t, err := s.registryView(c, r, reg)
	if err != nil || t == nil {
		return nil, err
	}
	reg.Signed, reg.Unsigned, reg.Drifted, reg.Missing, reg.Unknown =
		t.Counts.Signed, t.Counts.Unsigned, t.Counts.Drifted, t.Counts.Missing, t.Counts.Unknown
	rows := make([]views.SignedTagRow, 0, len(t.States))
	for _, st := range t.States {
		rows = append(rows, views.SignedTagRow{Tag: st.Name, Digest: strings.TrimPrefix(st.SignedDigest, "sha256:"),
			Signers: slices.Sorted(slices.Values(st.Signers)), State: st.State, RegistryDigest: st.RegistryDigest})
	}
	return rows, nil
}

// registryView reads the repository's tags in the registry for a page: it
// fills in reg (when and whether the registry was read, and why not) and
// returns the tags (nil when they cannot be had: the failure is then reg's
// to show, unless it is trustdeck's own).
func (s *Server) registryView(c echo.Context, r *catalog.Repository, reg *views.RegistryView) (*registry.Tags, error) {
	reg.Configured = true
	t, err := s.Registry.Tags(c.Request().Context(), r.Namespace, r.Name)
	if err != nil {
		if errs.KindOf(err) == errs.Internal {
			return nil, err
		}
		_, _, reg.Error = classify(err)
		return nil, nil
	}
	reg.Known, reg.CheckedAt, reg.Error = t.Known || !t.CheckedAt.IsZero(), t.CheckedAt, t.Error
	return t, nil
}

// pageTagRows keeps the rows of the page the query asks for (tv.Tags holds
// every matching row, sorted): a repository with thousands of tags renders
// TagsPerPage rows at a time.
func pageTagRows(c echo.Context, tv *views.TrustView) error {
	page, err := parsePage(c)
	if err != nil {
		return err
	}
	tv.Matching = len(tv.Tags)
	tv.Pages = max(1, (tv.Matching+views.TagsPerPage-1)/views.TagsPerPage)
	tv.Page = min(page, tv.Pages) // a link from before tags were removed: the last page
	from := (tv.Page - 1) * views.TagsPerPage
	tv.Tags = tv.Tags[from:min(from+views.TagsPerPage, tv.Matching)]
	tv.FirstRow = from + 1
	return nil
}

func sortTagRows(rows []views.SignedTagRow, key string) {
	desc := strings.HasPrefix(key, "-")
	key = strings.TrimPrefix(key, "-")
	if key == "tag" && !desc {
		return // docker's natural order, as computed
	}
	slices.SortStableFunc(rows, func(a, b views.SignedTagRow) int {
		var c int
		switch key {
		case "digest":
			c = strings.Compare(a.Digest, b.Digest)
		case "signers":
			c = strings.Compare(strings.Join(a.Signers, ", "), strings.Join(b.Signers, ", "))
		}
		if desc {
			c = -c
		}
		return c
	})
	if key == "tag" && desc {
		slices.Reverse(rows)
	}
}

func (s *Server) tagShow(c echo.Context) error {
	r, role, err := s.repoForRead(c)
	if err != nil {
		return err
	}
	tag := c.QueryParam("tag")
	if tag == "" || len(tag) > 4096 {
		return errs.Invalidf("invalid_tag", "Name a tag: ?tag=<name>.")
	}
	m := views.TagDetailView{Namespace: r.Namespace, Name: r.Name, GUN: r.GUN, Tag: tag, CanManage: role >= accounts.RoleAdmin,
		ImageName: r.GUN}
	if s.Registry != nil && !r.Foreign {
		if err := s.tagRegistry(c, r, &m); err != nil {
			return err
		}
		if err := s.tagSignatures(c, r, &m); err != nil {
			return err
		}
	}
	repo, err := s.Trust.Load(c.Request().Context(), r.GUN)
	if err != nil && !errors.Is(err, trust.ErrNoTrustData) {
		return err
	}
	if repo != nil {
		tv := repo.TagView(tag)
		m.Disagree, m.Released, m.PulledRole, m.PulledDigest = tv.Disagree, tv.Released, tv.PulledRole, tv.PulledDigest
		var releasers []string
		for _, sg := range repo.Signers() {
			if sg.CanRelease {
				releasers = append(releasers, sg.Name)
			}
		}
		for _, e := range tv.Entries {
			te := views.TagRoleEntry{Role: e.Role, Digest: e.Digest, Size: e.Size}
			switch e.Role {
			case trust.RoleTargets:
			case trust.RoleReleases:
				te.Signers = releasers
			default:
				te.Signer = e.Signer
			}
			m.Entries = append(m.Entries, te)
		}
	}
	// A tag nothing signs and the registry does not have (as far as it
	// could be read) is no tag of the repository: 404, the page says so.
	status := http.StatusOK
	if len(m.Entries) == 0 && (!m.Registry.Configured || m.Registry.Error == "" && m.RegistryDigest == "" && m.State != trust.TagMissing) {
		status = http.StatusNotFound
		m.Unknown = true
	}
	return render(c, status, views.TagPage(s.page(c, "Tag "+tag, "repositories"), m))
}

// tagRegistry fills in what the registry holds for the tag page's tag.
func (s *Server) tagRegistry(c echo.Context, r *catalog.Repository, m *views.TagDetailView) error {
	t, err := s.registryView(c, r, &m.Registry)
	if err != nil || t == nil {
		if err == nil {
			m.State = trust.TagUnknown
		}
		return err
	}
	m.State = trust.TagUnknown
	for _, st := range t.States {
		if st.Name == m.Tag {
			m.State, m.RegistryDigest, m.SignedDigest, m.Platforms = st.State, st.RegistryDigest, st.SignedDigest, st.Platforms
			break
		}
	}
	return nil
}

// apiInspect answers GET /api/v1/trust/inspect?ref=…[&ref=…][&pretty=1]
// with exactly what `docker trust inspect [--pretty] ref…` prints on stdout.
// A ref the caller may not read is answered as docker answers a repository it
// cannot access. When docker would exit 1, the status is 404: the JSON body is
// still docker's stdout (the successful refs), the message is in the
// Trustdeck-Inspect-Error header; in pretty mode the body is the JSON error.
func (s *Server) apiInspect(c echo.Context) error {
	refs := c.QueryParams()["ref"]
	if len(refs) == 0 {
		return errs.Invalidf("missing_ref", "Give at least one ref=<gun>[:<tag>].")
	}
	if len(refs) > 100 {
		return errs.Invalidf("too_many_refs", "Inspect at most 100 refs at a time.")
	}
	pretty := c.QueryParam("pretty") == "1" || c.QueryParam("pretty") == "true"
	ctx := c.Request().Context()
	results := make([]trust.InspectResult, 0, len(refs))
	for _, ref := range refs {
		if !s.mayReadRef(c, ref) {
			results = append(results, trust.InspectResult{Name: ref,
				Err: &trust.InspectError{Ref: ref, Message: "no signatures or cannot access " + ref}})
			continue
		}
		results = append(results, s.Trust.Inspect(ctx, ref)...)
	}
	stderr := strings.TrimSpace(string(trust.Stderr(results, pretty)))
	status := http.StatusOK
	if stderr != "" {
		status = http.StatusNotFound
	}
	if pretty {
		if stderr != "" {
			return c.JSON(status, apiError{Error: apiErrorBody{Code: "no_signatures", Message: stderr}})
		}
		return compressedBlob(c, status, echo.MIMETextPlainCharsetUTF8, trust.FormatPretty(results),
			func() []byte { return trust.FormatPrettyGzip(results) })
	}
	if stderr != "" {
		c.Response().Header().Set("Trustdeck-Inspect-Error", strings.ReplaceAll(stderr, "\n", "; "))
	}
	return compressedBlob(c, status, echo.MIMEApplicationJSON, trust.FormatJSON(results),
		func() []byte { return trust.FormatJSONGzip(results) })
}

// compressedBlob answers body, or its gzip form (gz, nil when not worth it)
// to a client that accepts gzip: an inspection of thousands of tags is
// megabytes of JSON that shrink tenfold.
func compressedBlob(c echo.Context, status int, contentType string, body []byte, gz func() []byte) error {
	if len(body) >= httpenc.MinGzip {
		h := c.Response().Header()
		h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
		if httpenc.AcceptsGzip(c.Request().Header.Values(echo.HeaderAcceptEncoding)) {
			if z := gz(); z != nil {
				h.Set(echo.HeaderContentEncoding, "gzip")
				return c.Blob(status, contentType, z)
			}
		}
	}
	return c.Blob(status, contentType, body)
}

// mayReadRef reports whether ref names a catalog GUN the caller may read.
func (s *Server) mayReadRef(c echo.Context, ref string) bool {
	gun, _, err := trust.ParseRef(ref)
	if err != nil {
		return true // let the reader report docker's parse error
	}
	ns, _, ok := s.Catalog.SplitGUN(gun)
	if !ok {
		return false
	}
	role, err := s.Accounts.RoleIn(c.Request().Context(), currentUser(c), ns)
	return err == nil && role >= accounts.RoleRead
}

func itoa(n int) string { return strconv.Itoa(n) }
