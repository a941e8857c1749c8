package app

import (
	"context"
	"time"

	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/removal"
	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/trust"
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

// auditedDeleter records trustdeck's own deletions on an external server
// (the embedded server's hooks do it otherwise) and refreshes the summary.
func auditedDeleter(del removal.DeleteTrustFunc, log *audit.Log, cat *catalog.Service, sums *trust.Summarizer) removal.DeleteTrustFunc {
	return func(ctx context.Context, gun, actor string) error {
		if err := del(ctx, gun, actor); err != nil {
			return err
		}
		ns, name, _ := cat.SplitGUN(gun)
		log.Record(ctx, audit.Event{Actor: actor, Action: audit.TrustDelete, GUN: gun, Namespace: ns, Name: name,
			Detail: "all trust data deleted on the external Notary server"})
		if ns != "" {
			sums.Enqueue(ns, name)
		}
		return nil
	}
}
