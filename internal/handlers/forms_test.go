package handlers_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/trustdeck/trustdeck/internal/testserver"
)

const (
	formRootPass = "root-passphrase-1"
	formRepoPass = "repository-passphrase-1"
)

// publicKeyPEM is a fresh ECDSA P-256 public key, as a signer would paste it.
func publicKeyPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// initialised starts a server with prod/app initialised through the form,
// and an admin's browser.
func initialised(t *testing.T) (*testserver.Server, *testserver.Browser) {
	t.Helper()
	s := testserver.Start(t)
	s.MustCreateRepo(t, "prod", "app")
	b := s.NewBrowser(t)
	b.Login("admin", testserver.AdminPassword)
	resp, body := b.PostForm("/repositories/prod/app/trust", url.Values{
		"root_passphrase": {formRootPass}, "root_passphrase_confirm": {formRootPass},
		"repository_passphrase": {formRepoPass}, "repository_passphrase_confirm": {formRepoPass}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("initialise: %d %s", resp.StatusCode, truncate(body))
	}
	return s, b
}

// tagOf is the start tag of the element with id in body ("" if none).
func tagOf(body, id string) string {
	return regexp.MustCompile(`<[a-z]+ [^>]*id="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(body)
}

// sectionOf is the section with id in body, up to its end.
func sectionOf(body, id string) string {
	_, rest, ok := strings.Cut(body, `<section id="`+id+`"`)
	if !ok {
		return ""
	}
	sec, _, _ := strings.Cut(rest, "</section>")
	return sec
}

func TestAddSignerFormShowsEveryProblemAtOnceAndKeepsWhatWasTyped(t *testing.T) {
	s, b := initialised(t)
	pasted := "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"
	var resp *http.Response
	var body string
	unchanged(t, s, func() {
		resp, body = b.PostForm("/repositories/prod/app/signers", url.Values{
			"signer": {"Bad Name"}, "public_key": {pasted}, "repository_passphrase": {""}})
	})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", resp.StatusCode, truncate(body))
	}
	for _, f := range []struct{ id, describedBy, says string }{
		{"signer", "signer-error signer-rules", "Signer names must start"},
		{"public_key", "public_key-error", "PEM"},
		{"repository_passphrase", "repository_passphrase-error", "passphrase of the repository key"},
	} {
		tag := tagOf(body, f.id)
		if !strings.Contains(tag, `aria-invalid="true"`) || !strings.Contains(tag, `aria-describedby="`+f.describedBy+`"`) {
			t.Errorf("field %s: %s, want aria-invalid and aria-describedby %q", f.id, tag, f.describedBy)
		}
		msg := tagOf(body, f.id+"-error")
		if msg == "" {
			t.Errorf("field %s: no problem under it", f.id)
			continue
		}
		text := sectionBetween(body, msg, "</p>")
		if !strings.Contains(html.UnescapeString(text), f.says) {
			t.Errorf("field %s: its problem %q, want it to say %q", f.id, text, f.says)
		}
	}
	summary := sectionBetween(body, `id="form-problems"`, "</div>")
	if !strings.Contains(summary, "3 problems") || strings.Count(summary, "<li>") != 3 ||
		!strings.Contains(summary, `href="#signer"`) || !strings.Contains(summary, `href="#repository_passphrase"`) {
		t.Errorf("the summary should list the 3 problems, each linked to its field: %s", summary)
	}
	if !strings.Contains(body, `value="Bad Name"`) {
		t.Error("the signer name typed was not kept")
	}
	if !strings.Contains(html.UnescapeString(body), pasted) {
		t.Error("the pasted PEM was not kept")
	}

	// A pasted private key is never put back into the page.
	_, body = b.PostForm("/repositories/prod/app/signers", url.Values{"signer": {"jeff"},
		"public_key":            {"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"},
		"repository_passphrase": {formRepoPass}})
	if strings.Contains(body, "MIGHAgEAMBMGByqGSM49") {
		t.Error("a pasted private key was put back into the form")
	}
	noServerErrors(t, s)
}

// sectionBetween is body from the first marker to the next end after it.
func sectionBetween(body, marker, end string) string {
	_, rest, _ := strings.Cut(body, marker)
	sec, _, _ := strings.Cut(rest, end)
	return sec
}

func TestNoticeOfAChangeLandsBesideWhatChanged(t *testing.T) {
	s, b := initialised(t)
	for _, tc := range []struct {
		name, path string
		form       url.Values
		section    string
		row        string
		says       string
	}{
		{"add signer", "/repositories/prod/app/signers",
			url.Values{"signer": {"jeff"}, "public_key": {publicKeyPEM(t)}, "repository_passphrase": {formRepoPass}},
			"signers", "signer-jeff", "Signer jeff added."},
		{"renew targets", "/repositories/prod/app/trust/renew",
			url.Values{"role": {"targets"}, "passphrase": {formRepoPass}},
			"expiry", "role-targets", "targets renewed: version"},
		{"rotate root", "/repositories/prod/app/trust/rotate-root",
			url.Values{"root_passphrase": {formRootPass}, "new_root_passphrase": {"new-root-passphrase"}, "new_root_passphrase_confirm": {"new-root-passphrase"}},
			"admin-keys", "root-key", "Root key rotated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := b.PostForm(tc.path, tc.form)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/repositories/prod/app#notice" {
				t.Fatalf("%d to %q, want 303 to the notice: %s", resp.StatusCode, resp.Header.Get("Location"), truncate(body))
			}
			_, body = b.Get("/repositories/prod/app")
			if n := strings.Count(body, `id="notice"`); n != 1 {
				t.Fatalf("%d notices, want 1", n)
			}
			notice := sectionBetween(sectionOf(body, tc.section), `id="notice"`, "</p>")
			if !strings.Contains(notice, tc.says) {
				t.Errorf("section %s: notice %q, want it to say %q", tc.section, notice, tc.says)
			}
			if tag := tagOf(body, tc.row); !strings.Contains(tag, "changed") {
				t.Errorf("what changed is not highlighted: %s", tag)
			}
			if _, body = b.Get("/repositories/prod/app"); strings.Contains(body, `id="notice"`) || strings.Contains(body, `class="changed`) {
				t.Error("the notice or the highlight was shown twice")
			}
		})
	}
	noServerErrors(t, s)
}
