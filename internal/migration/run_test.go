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
	svc := New(Config{Store: e.st, Keys: e.sk, Catalog: e.cat, Transport: e.reg.Transport(), Now: later.now,
		Audit: audit.New(e.st, slog.New(slog.DiscardHandler))})
	reg, err := resign.NewRegistry(e.reg.Transport())
	if err != nil {
		t.Fatal(err)
	}

	_, err = svc.openKeys(ctx, reg, []string{"prod"}, []string{resign.FormatCosign}, StartRequest{Passphrase: "not-the-passphrase"})
	if ee, ok := errs.As(err); !ok || ee.Code != "wrong_passphrase" {
		t.Fatalf("wrong passphrase: %v", err)
	}
	_, err = svc.openKeys(ctx, reg, []string{"prod", "dev"}, []string{resign.FormatCosign}, StartRequest{Passphrase: testPassphrase})
	if ee, ok := errs.As(err); !ok || ee.Kind != errs.Conflict || ee.Code != "no_signing_key" || !strings.Contains(ee.Message, "dev") {
		t.Fatalf("namespace without a key: %v", err)
	}

	signers, err := svc.openKeys(ctx, reg, []string{"prod"}, []string{resign.FormatCosign, resign.FormatNotation}, StartRequest{Passphrase: testPassphrase})
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
		status, reason, msg := e.signOnce(t, svc, reg, signers[signerKey{"prod", f}], item)
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
	if status, reason, _ := e.signOnce(t, svc, reg, signers[signerKey{"prod", resign.FormatCosign}], item); status != store.ItemSkipped || reason != ReasonAlreadySigned {
		t.Errorf("signing again: %s %s", status, reason)
	}
	// A digest the registry no longer holds is skipped as missing.
	item.Digest = "sha256:" + strings.Repeat("0", 64)
	if status, reason, _ := e.signOnce(t, svc, reg, signers[signerKey{"prod", resign.FormatCosign}], item); status != store.ItemSkipped || reason != ReasonMissing {
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
	svc := New(Config{Store: e.st, Keys: e.sk, Catalog: cat, Transport: e.reg.Transport(), RegistryAddress: e.reg.Host,
		Audit: audit.New(e.st, slog.New(slog.DiscardHandler))})
	reg, err := resign.NewRegistry(svc.cfg.Transport)
	if err != nil {
		t.Fatal(err)
	}
	signers, err := svc.openKeys(ctx, reg, []string{"prod"}, []string{resign.FormatCosign}, StartRequest{Passphrase: testPassphrase})
	if err != nil {
		t.Fatal(err)
	}
	img := e.reg.PushImage("prod/app", "v1")
	item := store.MigrationItem{Namespace: "prod", Name: "app", Tag: "v1", Digest: img.Digest, Format: resign.FormatCosign}
	if status, _, msg := e.signOnce(t, svc, reg, signers[signerKey{"prod", resign.FormatCosign}], item); status != store.ItemSigned {
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

// TestAPassphrasePerKey: a namespace whose cosign key is a signer's vault
// key with its own passphrase and whose Notation key has the namespace's:
// the run opens each with its own (named by the vault key ID or by the
// key ID the plan shows), a wrong one refused naming the key, a
// passphrase for a key the run does not use refused.
func TestAPassphrasePerKey(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	const signerPass = "alice's own passphrase"
	_, dct, err := e.vlt.Generate(ctx, "alice", "", signerPass, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sk.Delete(ctx, "prod", resign.FormatCosign); err != nil {
		t.Fatal(err)
	}
	info, err := e.sk.UseVaultKeyForCosign(ctx, "prod", dct.ID, signerPass, "alice")
	if err != nil {
		t.Fatal(err)
	}
	svc := New(Config{Keys: e.sk, Catalog: e.cat, Transport: e.reg.Transport()})
	reg, err := resign.NewRegistry(e.reg.Transport())
	if err != nil {
		t.Fatal(err)
	}
	both := []string{resign.FormatCosign, resign.FormatNotation}
	_, err = svc.openKeys(ctx, reg, []string{"prod"}, both, StartRequest{Passphrase: testPassphrase})
	if ee, ok := errs.As(err); !ok || ee.Code != "wrong_passphrase" || !strings.Contains(ee.Message, dct.ID) {
		t.Fatalf("one passphrase for two keys: %v", err)
	}
	for _, id := range []string{dct.ID, info.KeyID} {
		signers, err := svc.openKeys(ctx, reg, []string{"prod"}, both,
			StartRequest{Passphrase: testPassphrase, Passphrases: map[string]string{id: signerPass}})
		if err != nil {
			t.Fatalf("passphrase by %s: %v", id, err)
		}
		if sg := signers[signerKey{"prod", resign.FormatCosign}]; sg.keyID != info.KeyID || sg.broken != "" {
			t.Errorf("cosign signer %+v", sg)
		}
	}
	_, err = svc.openKeys(ctx, reg, []string{"prod"}, both,
		StartRequest{Passphrase: signerPass, Passphrases: map[string]string{dct.ID: signerPass}})
	if ee, ok := errs.As(err); !ok || ee.Code != "wrong_passphrase" || !strings.Contains(ee.Message, "notation signer key") {
		t.Fatalf("wrong passphrase for the Notation key: %v", err)
	}
	_, err = svc.openKeys(ctx, reg, []string{"prod"}, []string{resign.FormatNotation},
		StartRequest{Passphrase: testPassphrase, Passphrases: map[string]string{dct.ID: signerPass}})
	if ee, ok := errs.As(err); !ok || ee.Code != "unknown_key" || !strings.Contains(ee.Message, dct.ID) {
		t.Fatalf("a passphrase for a key the run does not use: %v", err)
	}
	// Only per-key passphrases: the request is complete.
	if _, _, _, err := svc.checkRequest(ctx, StartRequest{Repositories: []string{"prod/app"}, Formats: both,
		Passphrases: map[string]string{dct.ID: signerPass}}); err != nil && strings.Contains(err.Error(), "passphrase") {
		t.Errorf("per-key passphrases only: %v", err)
	}
}

// signOnce signs it as the one item of a new run stored for it, as alice.
func (e *testEnv) signOnce(t *testing.T, svc *Service, reg *resign.Registry, sg *signer, it store.MigrationItem) (status, reason, msg string) {
	t.Helper()
	id, stored := e.pending(t, it)
	return svc.sign(context.Background(), id, "alice", reg, sg, stored)
}

// pending stores it as the pending item of a new run and returns the run's
// ID and the item as the store holds it.
func (e *testEnv) pending(t *testing.T, it store.MigrationItem) (string, store.MigrationItem) {
	t.Helper()
	ctx := context.Background()
	id := newID()
	it.Status = store.ItemPending
	if err := e.st.CreateMigrationRun(ctx, store.MigrationRun{ID: id, Formats: []string{it.Format},
		Repositories: []string{it.Namespace + "/" + it.Name}, Namespaces: []string{it.Namespace}, CreatedBy: "alice"},
		[]store.MigrationItem{it}); err != nil {
		t.Fatal(err)
	}
	items, err := e.st.MigrationItems(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	return id, items[0]
}

// TestSignatureAuditedOnceAcrossAKill: a process killed after pushing a
// signature and before auditing it leaves the item pending and marked
// signing; the resumed run finds the signature, records the item signed
// and audits it then ("found after restart"), once. A signature found for
// an item that was never being signed stays "already signed", unaudited.
func TestSignatureAuditedOnceAcrossAKill(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	svc := New(Config{Store: e.st, Keys: e.sk, Catalog: e.cat, Transport: e.reg.Transport(),
		Audit: audit.New(e.st, slog.New(slog.DiscardHandler))})
	reg, err := resign.NewRegistry(e.reg.Transport())
	if err != nil {
		t.Fatal(err)
	}
	signers, err := svc.openKeys(ctx, reg, []string{"prod"}, []string{resign.FormatCosign}, StartRequest{Passphrase: testPassphrase})
	if err != nil {
		t.Fatal(err)
	}
	sg := signers[signerKey{"prod", resign.FormatCosign}]
	img := e.reg.PushImage("prod/app", "v1")
	id, it := e.pending(t, store.MigrationItem{Namespace: "prod", Name: "app", Tag: "v1", Digest: img.Digest, Format: resign.FormatCosign})

	// The killed process: marked, pushed, then gone.
	if err := e.st.MarkMigrationItemSigning(ctx, id, it.Seq, sg.keyID); err != nil {
		t.Fatal(err)
	}
	described, _, err := reg.Describe(ctx, e.reg.Host, "prod/app", img.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := sg.format.Sign(ctx, described, resign.Provenance{Tag: "v1"}); err != nil || !out.Added {
		t.Fatalf("push: %+v %v", out, err)
	}
	pending, err := e.st.MigrationItems(ctx, id, store.ItemPending)
	if err != nil || len(pending) != 1 || pending[0].Reason != store.ItemSigning {
		t.Fatalf("after the kill: %+v %v", pending, err)
	}

	// The resumed run.
	status, reason, msg := svc.sign(ctx, id, "alice", reg, sg, pending[0])
	if status != store.ItemSigned || reason != "" || !strings.Contains(msg, "restart") {
		t.Errorf("resumed: %s %s %s", status, reason, msg)
	}
	events, err := e.st.ListAudit(ctx, store.AuditQuery{})
	if err != nil || len(events) != 1 || events[0].Action != audit.MigrationSign ||
		!strings.Contains(events[0].Detail, "found after restart") || !strings.Contains(events[0].Detail, "run "+id) {
		t.Fatalf("audit after the resume: %+v %v", events, err)
	}
	// Another run finds the same signature: already signed, not audited again.
	if status, reason, _ := e.signOnce(t, svc, reg, sg, it); status != store.ItemSkipped || reason != ReasonAlreadySigned {
		t.Errorf("a later run: %s %s", status, reason)
	}
	if events, _ := e.st.ListAudit(ctx, store.AuditQuery{}); len(events) != 1 {
		t.Errorf("%d audit events, want 1", len(events))
	}
	// A normal signature: marked signing before the push, audited once.
	img2 := e.reg.PushImage("prod/app", "v2")
	id2, it2 := e.pending(t, store.MigrationItem{Namespace: "prod", Name: "app", Tag: "v2", Digest: img2.Digest, Format: resign.FormatCosign})
	if status, _, _ := svc.sign(ctx, id2, "alice", reg, sg, it2); status != store.ItemSigned {
		t.Fatalf("v2: %s", status)
	}
	items, _ := e.st.MigrationItems(ctx, id2, "")
	if items[0].Reason != store.ItemSigning || items[0].KeyID != sg.keyID {
		t.Errorf("v2 was not marked signing before its push: %+v", items[0])
	}
	if events, _ := e.st.ListAudit(ctx, store.AuditQuery{}); len(events) != 2 || strings.Contains(events[0].Detail, "restart") {
		t.Errorf("audit after v2: %+v", events)
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
