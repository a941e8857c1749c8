package discovery

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/testpg"
)

// feedServer serves n changes in notary-server's changefeed format: GUN i
// is created by change 2i-1 and updated by change 2i.
func feedServer(b *testing.B, n int) *httptest.Server {
	now := time.Now().UTC()
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		from, _ := strconv.Atoi(r.URL.Query().Get("change_id"))
		records, _ := strconv.Atoi(r.URL.Query().Get("records"))
		var out []change
		if from < 0 { // the latest
			out = append(out, change{ID: strconv.Itoa(n), GUN: "reg.test/bench/x", Category: "update", CreatedAt: now})
		}
		for id := from + 1; from >= 0 && id <= n && len(out) < records; id++ {
			out = append(out, change{ID: strconv.Itoa(id), GUN: fmt.Sprintf("reg.test/ns%d/app%d", (id+1)/2%50, (id+1)/2),
				Version: 2 - id%2, Category: "update", CreatedAt: now})
		}
		json.NewEncoder(w).Encode(feed{Count: len(out), Records: out})
	}))
}

// BenchmarkDiscoverChanges is the first poll of a server with 10,000
// changes of 5,000 GUNs: every GUN is entered into the catalog and each
// change audited as made outside trustdeck.
func BenchmarkDiscoverChanges(b *testing.B) {
	const changes = 10_000
	srv := feedServer(b, changes)
	defer srv.Close()
	log := slog.New(slog.DiscardHandler)
	for b.Loop() {
		b.StopTimer()
		st, err := store.Open(context.Background(), testpg.Location(b, filepath.Join(b.TempDir(), "trustdeck.db")))
		if err != nil {
			b.Fatal(err)
		}
		p := New(Config{URL: srv.URL, Transport: http.DefaultTransport, Interval: time.Hour, Store: st,
			Catalog: catalog.New(st, "reg.test"), Audit: audit.New(st, log), Log: log})
		b.StartTimer()
		if err := p.Poll(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if p.Discovered() != changes/2 {
			b.Fatalf("discovered %d, want %d", p.Discovered(), changes/2)
		}
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(changes), "changes/op")
}
