package registry_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/memregistry"
	"github.com/trustdeck/trustdeck/internal/notaryclient"
	"github.com/trustdeck/trustdeck/internal/registry"
	"github.com/trustdeck/trustdeck/internal/registryclient"
	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/testpg"
	"github.com/trustdeck/trustdeck/internal/trust"
)

// noTrustData is a Notary server that holds no trust data.
type noTrustData struct{ *storage.MemoryStore }

func (noTrustData) GetKey(data.RoleName) ([]byte, error)    { return nil, errors.New("no keys") }
func (noTrustData) RotateKey(data.RoleName) ([]byte, error) { return nil, errors.New("no keys") }

const benchTags = 5000

// benchRegistry is a registry holding prod/big with benchTags tags.
func benchRegistry(b *testing.B) *memregistry.Registry {
	reg := memregistry.Start(b, memregistry.WithETags())
	img := reg.PushImage("prod/big", "base")
	for i := range benchTags - 1 {
		reg.PutManifest("prod/big", fmt.Sprintf("t%04d", i), img)
	}
	return reg
}

// benchService is a registry service on a new database holding prod/big.
func benchService(b *testing.B, reg *memregistry.Registry) (*registry.Service, *store.Store) {
	b.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, testpg.Location(b, filepath.Join(b.TempDir(), "trustdeck.db")))
	if err != nil {
		b.Fatal(err)
	}
	cat := catalog.New(st, reg.Host)
	if _, err := cat.Create(ctx, "prod", "big", "admin"); err != nil {
		b.Fatal(err)
	}
	rt, err := notaryclient.New(notaryclient.Options{CAFile: reg.CAFile, Flags: registryclient.Flags})
	if err != nil {
		b.Fatal(err)
	}
	rc, _ := registryclient.New(reg.URL, rt)
	reader := trust.NewReader(func(string) (storage.RemoteStore, error) { return noTrustData{storage.NewMemoryStore(nil)}, nil })
	log := slog.New(slog.DiscardHandler)
	svc := registry.New(registry.Config{Client: rc, Store: st, Catalog: cat, Trust: reader, Audit: audit.New(st, log),
		Interval: time.Hour, RefreshAfter: time.Hour, Log: log})
	return svc, st
}

// BenchmarkFirstSync is the first read of a repository with 5,000 tags
// from the local registry: tags/list, 5,000 HEADs (16 in flight), the
// tags stored and counted.
func BenchmarkFirstSync(b *testing.B) {
	reg := benchRegistry(b)
	for b.Loop() {
		b.StopTimer()
		svc, st := benchService(b, reg)
		b.StartTimer()
		if err := svc.Sync(context.Background(), "prod", "big"); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if s, _ := st.RegistryState(context.Background(), "prod", "big"); len(s.Tags) != benchTags || !s.FailingSince.IsZero() {
			b.Fatalf("%d tags stored, error %q", len(s.Tags), s.Error)
		}
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(benchTags, "tags/op")
}

// BenchmarkResync is a later read of the same repository: every HEAD is
// conditional (304), nothing is written.
func BenchmarkResync(b *testing.B) {
	reg := benchRegistry(b)
	svc, st := benchService(b, reg)
	defer st.Close()
	ctx := context.Background()
	if err := svc.Sync(ctx, "prod", "big"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := svc.Sync(ctx, "prod", "big"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTagsWarm is what the repository page and the API ask for a
// repository with 5,000 tags read before: its tags from the store, compared
// with the trust data, no registry request.
func BenchmarkTagsWarm(b *testing.B) {
	reg := benchRegistry(b)
	svc, st := benchService(b, reg)
	defer st.Close()
	ctx := context.Background()
	if err := svc.Sync(ctx, "prod", "big"); err != nil {
		b.Fatal(err)
	}
	reg.ResetCounts()
	for b.Loop() {
		t, err := svc.Tags(ctx, "prod", "big")
		if err != nil || len(t.States) != benchTags {
			b.Fatal(err)
		}
	}
	if n := reg.Count("GET", "tags", 200) + reg.Count("HEAD", "manifests", 200); n != 0 {
		b.Fatalf("%d registry requests while reading warm", n)
	}
}
