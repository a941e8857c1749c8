package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// catchUpBeforeWrites runs Server.BeforeWrite before every request that may
// write, so that a write served by this replica never starts from what its
// caches hold of a change another replica made (a voided token, a removed
// repository, newer trust data). Reads rely on the replica's polling
// (cluster.PollInterval). A failure is logged and the request goes on: the
// database it could not read will answer the write itself.
func (s *Server) catchUpBeforeWrites(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.BeforeWrite != nil {
			switch c.Request().Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
			default:
				if err := s.BeforeWrite(c.Request().Context()); err != nil {
					s.Log.Warn("cannot catch up with the other replicas' changes before a write", "err", err)
				}
			}
		}
		return next(c)
	}
}
