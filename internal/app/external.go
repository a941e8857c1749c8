package app

import (
	"context"
	"time"

	"github.com/trustdeck/trustdeck/internal/store"
)

// externalSummaryStore answers the summaries' "last signed" from the
// external server's changefeed (the last update recorded for the GUN): the
// embedded server's TUF tables are empty in external mode.
type externalSummaryStore struct {
	*store.Store
	server string
}

func (s externalSummaryStore) LastTargetsChange(ctx context.Context, gun string) (time.Time, error) {
	return s.LastGUNChange(ctx, s.server, gun)
}
