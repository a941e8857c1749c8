package migration

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/resign"
	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/trust"
)

// TestKeysOpenedForARun: a wrong passphrase refuses the run before it
// starts; a namespace without a key is a conflict; a key its format
// refuses (here: a Notation certificate expired by the time of the run)
// fails that format's items with the reason, and the other format signs.
func TestKeysOpenedForARun(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	later := &clock{t: time.Now().Add(resign.NotationLeafValidity + 24*time.Hour)}
	svc := New(Config{Keys: e.sk, Catalog: e.cat, Transport: e.reg.Transport(), Now: later.now,
		Audit: audit.New(e.st, slog.New(slog.DiscardHandler))})
	reg, err := resign.NewRegistry(e.reg.Transport())
	if err != nil {
		t.Fatal(err)
	}

	_, err = svc.openKeys(ctx, reg, []string{"prod"}, []string{resign.FormatCosign}, "not-the-passphrase")
	if ee, ok := errs.As(err); !ok || ee.Code != "wrong_passphrase" {
		t.Fatalf("wrong passphrase: %v", err)
	}
	_, err = svc.openKeys(ctx, reg, []string{"prod", "dev"}, []string{resign.FormatCosign}, testPassphrase)
	if ee, ok := errs.As(err); !ok || ee.Kind != errs.Conflict || ee.Code != "no_signing_key" || !strings.Contains(ee.Message, "dev") {
		t.Fatalf("namespace without a key: %v", err)
	}

	signers, err := svc.openKeys(ctx, reg, []string{"prod"}, []string{resign.FormatCosign, resign.FormatNotation}, testPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	notation := signers[signerKey{"prod", resign.FormatNotation}]
	if notation.broken == "" || !strings.Contains(notation.broken, "The notation key of prod cannot sign") {
		t.Fatalf("an expired Notation certificate: %+v", notation)
	}
	img := e.reg.PushImage("prod/app", "v1")
	item := store.MigrationItem{Namespace: "prod", Name: "app", Tag: "v1", Digest: img.Digest}
	for _, f := range []string{resign.FormatCosign, resign.FormatNotation} {
		item.Format = f
		status, reason, msg := svc.sign(ctx, "run", "alice", reg, signers[signerKey{"prod", f}], item)
		switch f {
		case resign.FormatCosign:
			if status != store.ItemSigned || reason != "" {
				t.Errorf("cosign: %s %s %s", status, reason, msg)
			}
		default:
			if status != store.ItemFailed || !strings.Contains(msg, "cannot sign") || !strings.Contains(msg, "certificate") {
				t.Errorf("notation with an expired certificate: %s %s %q", status, reason, msg)
			}
		}
	}
	events, err := e.st.ListAudit(ctx, store.AuditQuery{})
	if err != nil || len(events) != 1 || events[0].Action != audit.MigrationSign || events[0].Actor != "alice" ||
		!strings.Contains(events[0].Detail, "cosign signature of tag v1 ("+img.Digest+") with key ") {
		t.Errorf("audit of the signature: %+v %v", events, err)
	}
	// Signing the same tag again writes nothing: already signed.
	item.Format = resign.FormatCosign
	if status, reason, _ := svc.sign(ctx, "run", "alice", reg, signers[signerKey{"prod", resign.FormatCosign}], item); status != store.ItemSkipped || reason != ReasonAlreadySigned {
		t.Errorf("signing again: %s %s", status, reason)
	}
	// A digest the registry no longer holds is skipped as missing.
	item.Digest = "sha256:" + strings.Repeat("0", 64)
	if status, reason, _ := svc.sign(ctx, "run", "alice", reg, signers[signerKey{"prod", resign.FormatCosign}], item); status != store.ItemSkipped || reason != ReasonMissing {
		t.Errorf("a digest gone: %s %s", status, reason)
	}
}

// TestImagesNamedAsPulled: when trustdeck reaches the registry at another
// address (--registry-url) than the host images are pulled by (the
// catalog's registry host), signatures name the images as pulled and the
// requests go to the registry's address.
func TestImagesNamedAsPulled(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	cat := catalog.New(e.st, "images.example.com")
	svc := New(Config{Keys: e.sk, Catalog: cat, Transport: e.reg.Transport(), RegistryAddress: e.reg.Host,
		Audit: audit.New(e.st, slog.New(slog.DiscardHandler))})
	reg, err := resign.NewRegistry(svc.cfg.Transport)
	if err != nil {
		t.Fatal(err)
	}
	signers, err := svc.openKeys(ctx, reg, []string{"prod"}, []string{resign.FormatCosign}, testPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	img := e.reg.PushImage("prod/app", "v1")
	item := store.MigrationItem{Namespace: "prod", Name: "app", Tag: "v1", Digest: img.Digest, Format: resign.FormatCosign}
	if status, _, msg := svc.sign(ctx, "run", "alice", reg, signers[signerKey{"prod", resign.FormatCosign}], item); status != store.ItemSigned {
		t.Fatalf("sign: %s %s", status, msg)
	}
	ref, _ := name.NewTag(e.reg.Host + "/prod/app:" + strings.Replace(img.Digest, ":", "-", 1) + ".sig")
	sig, err := remote.Image(ref, remote.WithTransport(e.reg.Transport()))
	if err != nil {
		t.Fatal(err)
	}
	layers, err := sig.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("signature layers: %v %v", layers, err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var payload resign.SimpleSigning
	if err := json.NewDecoder(rc).Decode(&payload); err != nil {
		t.Fatal(err)
	}
	if got := payload.Critical.Identity.DockerReference; got != "images.example.com/prod/app" {
		t.Errorf("docker-reference %q, want images.example.com/prod/app", got)
	}
	got, err := svc.Signatures(ctx, "prod", "app", []trust.TagState{{Name: "v1", RegistryDigest: img.Digest}})
	if err != nil || !got[0].Cosign.Signed || got[0].Error != "" {
		t.Errorf("signatures through the registry's address: %+v %v", got, err)
	}
}

// TestRunOfAnotherReplicaReserves: a run another replica sharing the
// database is running (known only from the store) refuses new runs of its
// repositories here, not of others.
func TestRunOfAnotherReplicaReserves(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	if err := e.st.CreateMigrationRun(ctx, store.MigrationRun{ID: "elsewhere", Formats: []string{resign.FormatCosign},
		Repositories: []string{"prod/app"}, Namespaces: []string{"prod"}, CreatedBy: "alice"}, nil); err != nil {
		t.Fatal(err)
	}
	svc := New(Config{Store: e.st, Keys: e.sk, Catalog: e.cat})
	err := svc.runningElsewhere(ctx, []string{"prod/db", "prod/app"})
	if ee, ok := errs.As(err); !ok || ee.Code != "migration_running" || !strings.Contains(ee.Message, "elsewhere") {
		t.Fatalf("a repository another replica migrates: %v", err)
	}
	if err := svc.runningElsewhere(ctx, []string{"prod/db"}); err != nil {
		t.Fatalf("a repository nobody migrates: %v", err)
	}
}
