package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/accounts"
	"github.com/trustdeck/trustdeck/internal/archives"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/names"
	"github.com/trustdeck/trustdeck/internal/trust"
	"github.com/trustdeck/trustdeck/internal/views"
)

// Archived repositories (issue 13). Read access follows the namespace of
// the GUN where it is under the registry host, global administrators
// otherwise; capturing and importing need admin on that namespace (global
// administrators: any GUN); deleting is for global administrators.

// maxArchiveUpload bounds an imported archive's request body (the archive
// itself unpacks to at most archives.MaxImportBytes).
const maxArchiveUpload = 32 << 20

// mountArchiveImports serves the two routes that take an archive upload:
// the UI and API group's 1 MiB body limit is too small for an archive, so
// they carry their own limit and the group's other middleware.
func (s *Server) mountArchiveImports(e *echo.Echo) {
	chain := []echo.MiddlewareFunc{archiveBodyLimit, s.authenticate, s.csrf, s.requireUser}
	e.POST("/archives/import", s.archiveImportSubmit, chain...)
	e.POST("/api/v1/archives/import", s.apiArchiveImport, chain...)
}

// archiveBodyLimit refuses an upload larger than maxArchiveUpload: at once
// when it says so in its Content-Length, else when reading passes it.
func archiveBodyLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > maxArchiveUpload {
			return archiveTooLarge()
		}
		r.Body = http.MaxBytesReader(c.Response(), r.Body, maxArchiveUpload)
		return next(c)
	}
}

func archiveTooLarge() error {
	return &errs.Error{Kind: errs.TooLarge, Code: "archive_too_large",
		Message: fmt.Sprintf("The upload is larger than %d MiB: an archive of one repository is far smaller.", maxArchiveUpload>>20)}
}

// archiveNamespace is the namespace whose roles govern archives of gun: ""
// (global administrators only) for a GUN outside the registry host.
func (s *Server) archiveNamespace(gun string) string {
	ns, _, ok := s.Catalog.SplitGUN(gun)
	if !ok || ns == names.Foreign {
		return ""
	}
	return ns
}

// mayReadArchive reports whether the caller may read archives of gun.
func (s *Server) mayReadArchive(c echo.Context, gun string) (bool, error) {
	u := currentUser(c)
	if u.IsAdmin {
		return true, nil
	}
	ns := s.archiveNamespace(gun)
	if ns == "" {
		return false, nil
	}
	role, err := s.Accounts.RoleIn(c.Request().Context(), u, ns)
	return role >= accounts.RoleRead, err
}

// archiveAllow says whether the caller may create archives of a GUN: global
// administrators any, namespace administrators their namespaces'.
func (s *Server) archiveAllow(c echo.Context) archives.Allow {
	u := currentUser(c)
	return func(ctx context.Context, gun string) error {
		if u.IsAdmin {
			return nil
		}
		ns := s.archiveNamespace(gun)
		if ns == "" {
			return errs.Forbiddenf("forbidden", "Only global administrators archive repositories outside %s such as %s.",
				s.Catalog.RegistryHost(), gun)
		}
		role, err := s.Accounts.RoleIn(ctx, u, ns)
		if err != nil {
			return err
		}
		if role < accounts.RoleAdmin {
			return errs.Forbiddenf("forbidden", "Only administrators of the namespace %s (and global administrators) archive %s.", ns, gun)
		}
		return nil
	}
}

// mayCreateArchives reports whether the caller administers anything: the
// capture and import forms are theirs.
func (s *Server) mayCreateArchives(c echo.Context) (bool, error) {
	ok, _, err := s.canCreateSomewhere(c)
	return ok, err
}

// archiveForRead is the archive of the route's :id, if the caller may read
// it (404 otherwise, whether it exists or not).
func (s *Server) archiveForRead(c echo.Context) (*archives.Archive, error) {
	id, err := archives.ParseID(c.Param("id"))
	if err != nil {
		return nil, err
	}
	a, err := s.Archives.Get(c.Request().Context(), id)
	if err != nil {
		return nil, err
	}
	ok, err := s.mayReadArchive(c, a.GUN)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errs.NotFoundf("archive_not_found", "There is no archived repository #%d you can see.", id)
	}
	return a, nil
}

// visibleArchives lists the archives (of gun, or all for "") the caller may
// read, newest capture first.
func (s *Server) visibleArchives(c echo.Context, gun string) ([]*archives.Archive, error) {
	ctx := c.Request().Context()
	all, err := s.Archives.List(ctx, gun)
	if err != nil {
		return nil, err
	}
	visible, err := s.Accounts.VisibleNamespaces(ctx, currentUser(c))
	if err != nil || visible == nil {
		return all, err
	}
	return slices.DeleteFunc(all, func(a *archives.Archive) bool {
		ns := s.archiveNamespace(a.GUN)
		return ns == "" || !slices.Contains(visible, ns)
	}), nil
}

func archiveRow(a *archives.Archive) views.ArchiveRow {
	return views.ArchiveRow{ID: a.ID, GUN: a.GUN, CapturedAt: a.CapturedAt, Source: a.Source, NotaryURL: a.NotaryURL,
		CreatedBy: a.CreatedBy, Valid: a.Verification.Valid, RootChain: a.RootChain.Status, SignedTags: a.SignedTags,
		Signers: a.Signers, Captures: 1}
}

// latestArchiveRows is the latest archive of each GUN the caller may read,
// with how many archives the GUN has (the repository list's section).
func (s *Server) latestArchiveRows(c echo.Context) ([]views.ArchiveRow, error) {
	list, err := s.visibleArchives(c, "")
	if err != nil {
		return nil, err
	}
	var rows []views.ArchiveRow
	at := map[string]int{}
	for _, a := range list {
		if i, seen := at[a.GUN]; seen {
			rows[i].Captures++
			continue
		}
		at[a.GUN] = len(rows)
		rows = append(rows, archiveRow(a))
	}
	slices.SortStableFunc(rows, func(a, b views.ArchiveRow) int { return strings.Compare(a.GUN, b.GUN) })
	return rows, nil
}

// --- pages ---

func (s *Server) archiveList(c echo.Context) error {
	list, err := s.visibleArchives(c, "")
	if err != nil {
		return err
	}
	canCreate, err := s.mayCreateArchives(c)
	if err != nil {
		return err
	}
	l := views.ArchiveList{CanCreate: canCreate}
	for _, a := range list {
		l.Rows = append(l.Rows, archiveRow(a))
	}
	return render(c, http.StatusOK, views.ArchivesPage(s.page(c, "Archived repositories", "archives"), l))
}

// openForRead is the route's archive with its verified trust data, if the
// caller may read it.
func (s *Server) openForRead(c echo.Context) (*archives.Opened, error) {
	a, err := s.archiveForRead(c)
	if err != nil {
		return nil, err
	}
	return s.Archives.Open(c.Request().Context(), a.ID)
}

func (s *Server) archiveShow(c echo.Context) error {
	o, err := s.openForRead(c)
	if err != nil {
		return err
	}
	a := o.Archive
	history, err := s.visibleArchives(c, a.GUN)
	if err != nil {
		return err
	}
	d := archiveDetail(o)
	for _, h := range history {
		d.History = append(d.History, archiveRow(h))
	}
	d.CanDelete = currentUser(c).IsAdmin
	return render(c, http.StatusOK, views.ArchivePage(s.page(c, a.GUN+" (archived)", "archives"), d))
}

// archiveDetail is what an archive's page shows: what the live pages show,
// as of its capture.
func archiveDetail(o *archives.Opened) views.ArchiveDetail {
	a, repo := o.Archive, o.Verification.Repo
	d := views.ArchiveDetail{ArchiveRow: archiveRow(a), TrustAnchor: a.Verification.TrustAnchor,
		RootKeyIDs: a.Verification.RootKeyIDs, RootCanonicalIDs: a.Verification.RootCanonicalIDs,
		RootChainDetail: a.RootChain.Detail}
	if a.RootChain.PreviousID != nil {
		d.PreviousID = *a.RootChain.PreviousID
	}
	res := o.Verification.Inspect()
	for _, t := range res.SignedTags {
		d.Tags = append(d.Tags, views.SignedTagRow{Tag: t.SignedTag, Digest: t.Digest, Signers: slices.Sorted(slices.Values(t.Signers))})
	}
	for _, u := range repo.Unreleased() {
		d.Unreleased = append(d.Unreleased, views.UnreleasedRow{Tag: u.Tag, Digest: u.Digest, Roles: u.Roles})
	}
	for _, sg := range repo.Signers() {
		row := views.SignerRow{Name: sg.Name}
		for _, k := range sg.Keys {
			kr := views.KeyRow{ID: k.ID, ShortID: k.ShortID(), Algorithm: k.Algorithm, Type: "public key"}
			if k.Certificate {
				kr.Type, kr.Subject, kr.Expires = "x509 certificate", k.Subject, k.NotAfter
				kr.ExpiryStatus = expiryStatus(k.NotAfter, a.CapturedAt)
			}
			row.Keys = append(row.Keys, kr)
		}
		d.Signers = append(d.Signers, row)
	}
	for _, ak := range res.AdministrativeKeys {
		var ids []string
		for _, k := range ak.Keys {
			ids = append(ids, k.ID)
		}
		if ak.Name == "Root" {
			d.RootKeys = ids
		} else {
			d.RepositoryKeys = ids
		}
	}
	for _, e := range repo.Expiries(a.CapturedAt) {
		d.Expiries = append(d.Expiries, views.ExpiryRow{Role: e.Role, Version: e.Version, Expires: e.Expires,
			Status: string(e.Status), Left: strings.TrimPrefix(views.Relative(e.Expires, a.CapturedAt), "in ")})
	}
	d.Pretty = string(trust.FormatPretty([]trust.InspectResult{res}))
	return d
}

func (s *Server) archiveCaptureForm(c echo.Context) error {
	if err := s.requireArchiveCreator(c); err != nil {
		return err
	}
	return render(c, http.StatusOK, views.CapturePage(s.page(c, "Capture from a Notary server", "archives"), views.CaptureForm{}))
}

// requireArchiveCreator refuses those who administer nothing.
func (s *Server) requireArchiveCreator(c echo.Context) error {
	ok, err := s.mayCreateArchives(c)
	if err != nil {
		return err
	}
	if !ok {
		return errs.Forbiddenf("forbidden", "Only global administrators and namespace administrators capture and import repositories.")
	}
	return nil
}

func (s *Server) archiveCaptureSubmit(c echo.Context) error {
	if err := s.requireArchiveCreator(c); err != nil {
		return err
	}
	f := views.CaptureForm{NotaryURL: strings.TrimSpace(c.FormValue("notary_url")), GUNs: c.FormValue("guns"),
		CAPEM: c.FormValue("ca_pem"), Username: strings.TrimSpace(c.FormValue("username"))}
	src := archives.Source{NotaryURL: f.NotaryURL, CAPEM: f.CAPEM, Username: f.Username, Password: c.FormValue("password")}
	failed := func(err error) error {
		if kind := errs.KindOf(err); kind == errs.Internal || kind == errs.TooMany {
			return err
		}
		status, _, msg := classify(err)
		f.Error = msg
		return render(c, status, views.CapturePage(s.page(c, "Capture from a Notary server", "archives"), f))
	}
	guns, err := archives.ParseGUNs([]string{f.GUNs})
	if err != nil {
		return failed(err)
	}
	u := currentUser(c)
	if len(guns) == 1 {
		a, err := s.Archives.Capture(c.Request().Context(), src, guns[0], u.Username, s.archiveAllow(c))
		if err != nil {
			return failed(err)
		}
		notice := "Captured " + a.GUN + "."
		if a.RootChain.Broken() {
			return s.redirectWithCaution(c, views.ArchivePath(a.ID), notice+" WARNING: its root does not chain to the capture before.")
		}
		return s.redirectWithNotice(c, views.ArchivePath(a.ID), notice)
	}
	id, err := s.Archives.Start(src, guns, u.Username, s.archiveAllow(c))
	if err != nil {
		return failed(err)
	}
	return c.Redirect(http.StatusSeeOther, "/archives/captures/"+id)
}

func (s *Server) archiveJobPage(c echo.Context) error {
	job, ok, err := s.Archives.Job(c.Request().Context(), c.Param("job"), currentUser(c).Username)
	if err != nil {
		return err
	}
	if !ok {
		return errs.NotFoundf("capture_not_found", "There is no capture of yours with this address (captures are kept for an hour).")
	}
	v := views.CaptureJob{ID: job.ID, NotaryURL: job.NotaryURL, Started: job.Started, Done: job.Done}
	v.Captured, v.Failed, v.Pending = job.Count()
	for _, r := range job.Results {
		row := views.CaptureResult{GUN: r.GUN, Status: r.Status}
		if r.Archive != nil {
			row.ArchiveID, row.RootBroken = r.Archive.ID, r.Archive.RootChain.Broken()
		}
		if r.Error != nil {
			row.Error = r.Error.Message
		}
		v.Results = append(v.Results, row)
	}
	return render(c, http.StatusOK, views.CaptureJobPage(s.page(c, "Capture", "archives"), v))
}

func (s *Server) archiveImportForm(c echo.Context) error {
	if err := s.requireArchiveCreator(c); err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ImportPage(s.page(c, "Import an archive", "archives"), views.ImportForm{}))
}

func (s *Server) archiveImportSubmit(c echo.Context) error {
	if err := s.requireArchiveCreator(c); err != nil {
		return err
	}
	a, err := s.importUpload(c)
	if err != nil {
		if errs.KindOf(err) == errs.Internal {
			return err
		}
		status, _, msg := classify(err)
		f := views.ImportForm{Error: msg}
		var ve *archives.VerificationError
		if errors.As(err, &ve) {
			f.Error = "The archive of " + ve.GUN + " fails verification as of " + views.FormatTime(ve.At) + ": it was not imported."
			for _, p := range ve.Failures {
				f.Problems = append(f.Problems, views.ArchiveProblem{Role: p.Role, Check: p.Check, Message: p.Message})
			}
		}
		return render(c, status, views.ImportPage(s.page(c, "Import an archive", "archives"), f))
	}
	return s.redirectWithNotice(c, views.ArchivePath(a.ID), "Imported the archive of "+a.GUN+".")
}

// importUpload imports the request's multipart field "archive".
func (s *Server) importUpload(c echo.Context) (*archives.Archive, error) {
	fh, err := c.FormFile("archive")
	if err != nil {
		var he *echo.HTTPError
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || (errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge) {
			return nil, archiveTooLarge()
		}
		return nil, errs.Invalidf("missing_archive", "Send the archive as the file field \"archive\" of a multipart/form-data upload.")
	}
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return s.Archives.Import(c.Request().Context(), f, currentUser(c).Username, s.archiveAllow(c))
}

func (s *Server) archiveDownload(c echo.Context) error {
	a, err := s.archiveForRead(c)
	if err != nil {
		return err
	}
	name, data, err := s.Archives.Download(c.Request().Context(), a.ID)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "application/gzip", data)
}

// archiveForDelete is the route's archive, for a global administrator.
func (s *Server) archiveForDelete(c echo.Context) (*archives.Archive, error) {
	a, err := s.archiveForRead(c)
	if err != nil {
		return nil, err
	}
	if !currentUser(c).IsAdmin {
		return nil, errs.Forbiddenf("forbidden", "Only global administrators delete archived repositories.")
	}
	return a, nil
}

func (s *Server) archiveDeleteForm(c echo.Context) error {
	a, err := s.archiveForDelete(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ArchiveDeletePage(s.page(c, "Delete archive", "archives"), archiveRow(a)))
}

// deleteArchive deletes the route's archive, for a global administrator:
// the form and the API share it.
func (s *Server) deleteArchive(c echo.Context) (*archives.Archive, error) {
	a, err := s.archiveForDelete(c)
	if err != nil {
		return nil, err
	}
	return a, s.Archives.Delete(c.Request().Context(), a.ID, currentUser(c).Username)
}

func (s *Server) archiveDeleteSubmit(c echo.Context) error {
	a, err := s.deleteArchive(c)
	if err != nil {
		return err
	}
	return s.redirectWithNotice(c, "/archives", "Archive #"+itoa(int(a.ID))+" of "+a.GUN+" deleted.")
}

// --- JSON API ---

// archiveJSON is an archive as the API answers it; Warning says loudly
// that its root does not chain to the capture before.
type archiveJSON struct {
	*archives.Archive
	Warning string `json:"warning,omitempty"`
}

func toArchiveJSON(a *archives.Archive) archiveJSON {
	out := archiveJSON{Archive: a}
	if a.RootChain.Broken() {
		out.Warning = "the root does not chain to the capture before: " + a.RootChain.Detail
	}
	return out
}

func (s *Server) apiArchiveList(c echo.Context) error {
	list, err := s.visibleArchives(c, "")
	if err != nil {
		return err
	}
	out := make([]archiveJSON, 0, len(list))
	for _, a := range list {
		out = append(out, toArchiveJSON(a))
	}
	return c.JSON(http.StatusOK, map[string]any{"archives": out})
}

func (s *Server) apiArchiveGet(c echo.Context) error {
	a, err := s.archiveForRead(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toArchiveJSON(a))
}

// apiArchiveCapture captures one GUN ("gun": 201 with the archive) or
// several ("guns": 200 with each GUN's result, in order).
func (s *Server) apiArchiveCapture(c echo.Context) error {
	var in struct {
		NotaryURL string   `json:"notary_url"`
		GUN       string   `json:"gun"`
		GUNs      []string `json:"guns"`
		CAPEM     string   `json:"ca_pem"`
		Username  string   `json:"username"`
		Password  string   `json:"password"`
	}
	if err := s.requireArchiveCreator(c); err != nil {
		return err
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if (in.GUN == "") == (in.GUNs == nil) {
		return errs.Invalidf("missing_gun", "Give either \"gun\" (one GUN) or \"guns\" (a list of GUNs).")
	}
	src := archives.Source{NotaryURL: in.NotaryURL, CAPEM: in.CAPEM, Username: in.Username, Password: in.Password}
	u := currentUser(c)
	if in.GUN != "" {
		a, err := s.Archives.Capture(c.Request().Context(), src, in.GUN, u.Username, s.archiveAllow(c))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, toArchiveJSON(a))
	}
	guns, err := archives.ParseGUNs(in.GUNs)
	if err != nil {
		return err
	}
	rc := http.NewResponseController(c.Response())
	_ = rc.SetWriteDeadline(time.Now().Add(exportWriteWindow))
	results, err := s.Archives.CaptureMany(c.Request().Context(), src, guns, u.Username, s.archiveAllow(c),
		func(int, archives.Result) { _ = rc.SetWriteDeadline(time.Now().Add(exportWriteWindow)) })
	if err != nil {
		return err
	}
	captured := 0
	for _, r := range results {
		if r.Status == archives.StatusCaptured {
			captured++
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"results": results, "captured": captured, "failed": len(results) - captured})
}

func (s *Server) apiArchiveImport(c echo.Context) error {
	if err := s.requireArchiveCreator(c); err != nil {
		return err
	}
	a, err := s.importUpload(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toArchiveJSON(a))
}

// apiArchiveInspect answers what `docker trust inspect [--pretty] GUN`
// printed for the archive's repository as of its capture, byte for byte.
func (s *Server) apiArchiveInspect(c echo.Context) error {
	o, err := s.openForRead(c)
	if err != nil {
		return err
	}
	results := []trust.InspectResult{o.Verification.Inspect()}
	if c.QueryParam("pretty") == "1" || c.QueryParam("pretty") == "true" {
		return compressedBlob(c, http.StatusOK, echo.MIMETextPlainCharsetUTF8, trust.FormatPretty(results),
			func() []byte { return trust.FormatPrettyGzip(results) })
	}
	return compressedBlob(c, http.StatusOK, echo.MIMEApplicationJSON, trust.FormatJSON(results),
		func() []byte { return trust.FormatJSONGzip(results) })
}

func (s *Server) apiArchiveDelete(c echo.Context) error {
	if _, err := s.deleteArchive(c); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
