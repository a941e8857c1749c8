package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/errs"
)

// exportWriteWindow is how long the export may take to send one
// repository: the server's WriteTimeout bounds whole responses, and an
// export of a large catalog takes longer than that.
const exportWriteWindow = 5 * time.Minute

// trustBackupAll streams one archive with the trust backup of every
// repository the caller may read (the same metadata any Notary client with
// pull may fetch, as for one repository's backup, which is not audited
// either). Repositories are read one after another, each written as soon
// as it is read.
func (s *Server) trustBackupAll(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	visible, err := s.Accounts.VisibleNamespaces(ctx, u)
	if err != nil {
		return err
	}
	export, err := s.Removal.Export(ctx, visible, u.Username)
	if err != nil {
		return err
	}
	res := c.Response()
	res.Header().Set("Content-Disposition", `attachment; filename="`+export.Filename+`"`)
	res.Header().Set("Cache-Control", "no-store")
	res.Header().Set(echo.HeaderContentType, "application/gzip")
	res.WriteHeader(http.StatusOK)
	out := &exportWriter{res: res, rc: http.NewResponseController(res)}
	out.Flush() // set the first write deadline
	m, err := export.Write(ctx, out)
	if err != nil {
		// The status is sent: the archive stops without its end, which
		// gzip reports when unpacking it.
		s.Log.Warn("export of trust backups interrupted", "user", u.Username, "err", err)
		return nil
	}
	for _, r := range m.Repositories {
		if r.Err != nil && errs.KindOf(r.Err) == errs.Internal {
			s.Log.Error("export of trust backups: repository not read", "gun", r.GUN, "err", r.Err)
		}
	}
	return nil
}

// exportWriter is the response of an export: each Flush sends what was
// written and gives the next repository exportWriteWindow.
type exportWriter struct {
	res *echo.Response
	rc  *http.ResponseController
}

func (w *exportWriter) Write(p []byte) (int, error) { return w.res.Write(p) }

func (w *exportWriter) Flush() {
	_ = w.rc.SetWriteDeadline(time.Now().Add(exportWriteWindow))
	_ = w.rc.Flush()
}
