package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// catchUpBeforeWrites runs catchUp for every request echo serves (the
// Notary API's own path calls it too, see Handler).
func (s *Server) catchUpBeforeWrites(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		s.catchUp(c.Request())
		return next(c)
	}
}

// ForgetNotaryGUN drops what the embedded Notary server cached of gun's
// metadata ("" every GUN's): another replica wrote it.
func (s *Server) ForgetNotaryGUN(gun string) {
	s.NotaryHandler()
	s.notaryCache.Invalidate(gun)
}

// catchUp runs Server.BeforeWrite before a request that may write (any
// method but GET, HEAD and OPTIONS), so that a write served by this replica
// never starts from what its caches hold of a change another replica made
// (a voided token, a removed repository, newer trust data). Reads rely on
// the replica's polling (cluster.PollInterval). A failure is logged and the
// request goes on: the database it could not read will answer the write
// itself.
func (s *Server) catchUp(r *http.Request) {
	if s.BeforeWrite == nil {
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return
	}
	if err := s.BeforeWrite(r.Context()); err != nil {
		s.Log.Warn("cannot catch up with the other replicas' changes before a write", "err", err)
	}
}
