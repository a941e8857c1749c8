package registry_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/memregistry"
	"github.com/trustdeck/trustdeck/internal/resign"
	"github.com/trustdeck/trustdeck/internal/testserver"
)

// TestSignatureColumnsFollowTheRegistry: the repository page's signature
// columns come from reads in the background; a signature pushed by someone
// else (a CI pipeline's cosign key) shows once the registry's notification
// of its sha256-<hex>.sig tag arrives, well within the status TTL.
func TestSignatureColumnsFollowTheRegistry(t *testing.T) {
	ctx := context.Background()
	reg := memregistry.Start(t)
	img := reg.PushImage("prod/app", "v1")
	s := start(t, reg)
	b := s.NewBrowser(t)
	b.Login("admin", testserver.AdminPassword)
	cell := regexp.MustCompile(`<td class="sig-notation">(.*?)</td>`)
	notationCell := func() string {
		resp, page := b.Get("/repositories/prod/app")
		if resp.StatusCode != http.StatusOK {
			return ""
		}
		m := cell.FindStringSubmatch(page)
		if m == nil {
			return ""
		}
		return m[1]
	}
	eventually(t, 10*time.Second, func() string {
		if c := notationCell(); !strings.Contains(c, "✗ Notation") || strings.Contains(c, "other") {
			return "the signature columns: " + c
		}
		return ""
	})

	// A CI pipeline signs v1 with its own cosign key.
	rr, err := resign.NewRegistry(reg.Transport())
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ci, err := resign.NewCosign(rr, key)
	if err != nil {
		t.Fatal(err)
	}
	desc, ok, err := rr.Describe(ctx, reg.Host, "prod/app", img.Digest)
	if err != nil || !ok {
		t.Fatalf("describe: %v %v", ok, err)
	}
	if _, err := ci.Sign(ctx, desc, resign.Provenance{}); err != nil {
		t.Fatal(err)
	}
	if c := notationCell(); strings.Contains(c, "other") {
		t.Fatalf("the page shows the new signature before anything said it changed: %s", c)
	}
	sigTag := "sha256-" + strings.TrimPrefix(img.Digest, "sha256:") + ".sig"
	resp, body := postEvents(t, s, "Bearer "+eventsToken, "application/json", envelope(map[string]any{
		"action": "push", "target": map[string]any{"repository": "prod/app", "tag": sigTag,
			"digest": "sha256:" + strings.Repeat("5", 64), "mediaType": "application/vnd.oci.image.manifest.v1+json"}}))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("notification: %d %s", resp.StatusCode, body)
	}
	eventually(t, 10*time.Second, func() string {
		if c := notationCell(); !strings.Contains(c, "+1 other") {
			return "after the notification: " + c
		}
		return ""
	})
}
