package handlers_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/testpki"
	"github.com/trustdeck/trustdeck/internal/testserver"
)

const importPass = "imported-notation-passphrase"

// TestNotationImportAPI: an admin's own chain is imported through the
// signing-keys API (201, audited, the trust store export holds its root);
// each of Notation's requirements refused with 400 naming the problem,
// nothing stored; a second import 409.
func TestNotationImportAPI(t *testing.T) {
	s := testserver.Start(t)
	s.MustCreateRepo(t, "prod", "app")
	post := func(body map[string]string) (*http.Response, string) {
		return s.API(t, "admin", testserver.AdminPassword, http.MethodPost, "/api/v1/namespaces/prod/signing-keys", body)
	}
	imp := func(c testpki.Chain, chain []byte) map[string]string {
		return map[string]string{"format": "notation", "certificate_chain": string(chain), "root": string(c.Root),
			"private_key": string(c.Key), "passphrase": importPass}
	}
	ecKey := func() *ecdsa.PrivateKey { k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader); return k }
	good := testpki.New(t, testpki.Options{})
	short, _ := rsa.GenerateKey(rand.Reader, 1024)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(ed)
	noEKU := testpki.New(t, testpki.Options{Key: ecKey(), NoCodeSigning: true})
	noDS := testpki.New(t, testpki.Options{Key: ecKey(), KeyUsage: x509.KeyUsageKeyEncipherment})
	weak := testpki.New(t, testpki.Options{Key: short})
	expired := testpki.New(t, testpki.Options{Key: ecKey(), NotAfter: time.Now().Add(-time.Hour)})
	other := testpki.New(t, testpki.Options{Key: ecKey()})
	edImport := imp(good, good.Leaf)
	edImport["private_key"] = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER}))
	mismatch := imp(good, append(good.Leaf, good.Intermediate...))
	mismatch["private_key"] = string(other.Key)
	noRoot := imp(good, append(good.Leaf, good.Intermediate...))
	delete(noRoot, "root")
	noKey := imp(good, good.Leaf)
	delete(noKey, "private_key")
	withVault := imp(good, good.Leaf)
	withVault["vault_key_id"] = "abc"
	cosignImport := imp(good, good.Leaf)
	cosignImport["format"] = "cosign"
	for _, tc := range []struct {
		name, code, want string
		body             map[string]string
	}{
		{"no code-signing EKU", "code_signing_eku", "code-signing", imp(noEKU, append(noEKU.Leaf, noEKU.Intermediate...))},
		{"no digitalSignature", "key_usage", "digitalSignature", imp(noDS, append(noDS.Leaf, noDS.Intermediate...))},
		{"RSA 1024", "notation_key_type", "RSA 1024", imp(weak, append(weak.Leaf, weak.Intermediate...))},
		{"Ed25519", "notation_key_type", "Ed25519", edImport},
		{"key of another certificate", "key_mismatch", "does not belong", mismatch},
		{"no root", "invalid_chain", "Root CA", noRoot},
		{"expired", "certificate_expired", "expired", imp(expired, append(expired.Leaf, expired.Intermediate...))},
		{"no private key", "incomplete_import", "private key", noKey},
		{"vault key with notation", "invalid_key_source", "cosign only", withVault},
		{"chain for cosign", "invalid_key_source", "Notation identity", cosignImport},
	} {
		resp, body := post(tc.body)
		code, msg := apiErr(t, body)
		if resp.StatusCode != http.StatusBadRequest || code != tc.code || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d %s, want 400 %s naming %q", tc.name, resp.StatusCode, body, tc.code, tc.want)
		}
	}
	if _, body := s.API(t, "admin", testserver.AdminPassword, http.MethodGet, "/api/v1/namespaces/prod/signing-keys", nil); body != `{"keys":[]}`+"\n" {
		t.Fatalf("keys after refusals: %s", body)
	}

	resp, body := post(imp(good, append(good.Intermediate, good.Leaf...)))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("import: %d %s", resp.StatusCode, body)
	}
	var out struct {
		Keys []struct {
			Role, Algorithm, Subject string
			KeyID                    string `json:"key_id"`
		}
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || len(out.Keys) != 2 {
		t.Fatalf("import: %v %s", err, body)
	}
	if out.Keys[1].Role != "signer" || out.Keys[1].Algorithm != "RSA 3072" || !strings.Contains(out.Keys[1].Subject, "release signing") {
		t.Errorf("imported %+v", out.Keys)
	}
	if resp, body := post(imp(good, append(good.Leaf, good.Intermediate...))); resp.StatusCode != http.StatusConflict {
		t.Errorf("second import: %d %s", resp.StatusCode, body)
	}
	resp, store := s.API(t, "admin", testserver.AdminPassword, http.MethodGet, "/api/v1/namespaces/prod/verification/notation-truststore.pem", nil)
	if resp.StatusCode != http.StatusOK || store != string(good.Root) {
		t.Errorf("trust store: %d %q, want the imported root", resp.StatusCode, store)
	}
	_, audit := s.API(t, "admin", testserver.AdminPassword, http.MethodGet, "/api/v1/audit", nil)
	if !strings.Contains(audit, "notation signer key "+out.Keys[1].KeyID+" (imported)") {
		t.Errorf("audit lacks the import: %s", audit)
	}
	if strings.Contains(audit, importPass) {
		t.Error("the passphrase is in the audit")
	}
}

// TestSigningKeyForms: the migration page offers, per namespace, to sign
// cosign with an existing signer's vault key and to import a Notation
// chain; both forms work and the page then names the keys that sign.
func TestSigningKeyForms(t *testing.T) {
	s := testserver.Start(t)
	s.MustCreateRepo(t, "prod", "app")
	const signerPass = "alice-signer-passphrase"
	file := testpki.SignerKeyFile(t, "alice", signerPass)
	resp, body := s.API(t, "admin", testserver.AdminPassword, http.MethodPost, "/api/v1/keys",
		map[string]string{"pem": string(file), "passphrase": signerPass})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("import alice's key: %d %s", resp.StatusCode, body)
	}
	var key struct{ ID string }
	json.Unmarshal([]byte(body), &key)

	b := s.NewBrowser(t)
	b.Login("admin", testserver.AdminPassword)
	_, page := b.Get("/migration")
	if !strings.Contains(page, `name="vault_key_id"`) || !strings.Contains(page, `<option value="`+key.ID+`">alice `+key.ID[:12]) {
		t.Fatalf("the page offers no signer's key for cosign: %s", truncate(page))
	}
	if !strings.Contains(page, `name="certificate_chain"`) || !strings.Contains(page, `name="private_key"`) {
		t.Fatal("the page offers no Notation import")
	}

	// A wrong passphrase: 400 with the page, nothing made.
	resp, page = b.PostForm("/namespaces/prod/signing-keys", url.Values{"format": {"cosign"}, "vault_key_id": {key.ID}, "passphrase": {"wrong-passphrase"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `id="key-error">Wrong passphrase`) {
		t.Fatalf("wrong passphrase: %d %s", resp.StatusCode, truncate(page))
	}
	resp, _ = b.PostForm("/namespaces/prod/signing-keys", url.Values{"format": {"cosign"}, "vault_key_id": {key.ID}, "passphrase": {signerPass}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("use alice's key: %d", resp.StatusCode)
	}
	// A refused import: 400, the problem named, the certificates kept in
	// the form, never the private key.
	expired := testpki.New(t, testpki.Options{NotAfter: time.Now().Add(-time.Hour)})
	resp, page = b.PostForm("/namespaces/prod/signing-keys", url.Values{"format": {"notation"},
		"certificate_chain": {string(expired.Leaf) + string(expired.Intermediate)}, "root": {string(expired.Root)},
		"private_key": {string(expired.Key)}, "passphrase": {importPass}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `id="key-error">Certificate`) ||
		!strings.Contains(page, "expired on") {
		t.Fatalf("expired chain: %d %s", resp.StatusCode, truncate(page))
	}
	if !strings.Contains(page, `name="certificate_chain" rows="6" required>`+string(expired.Leaf)+string(expired.Intermediate)+`</textarea>`) ||
		!strings.Contains(page, string(expired.Root)+`</textarea>`) || !strings.Contains(page, `<details class="import-notation" open>`) {
		t.Errorf("the refused form does not keep the certificates: %s", truncate(page))
	}
	if strings.Contains(page, "PRIVATE KEY") || strings.Contains(page, importPass) {
		t.Error("the refused form shows the private key or the passphrase")
	}
	c := testpki.New(t, testpki.Options{})
	resp, page = b.PostForm("/namespaces/prod/signing-keys", url.Values{"format": {"notation"},
		"certificate_chain": {string(c.Leaf) + string(c.Intermediate)}, "root": {string(c.Root)}, "private_key": {string(c.Key)},
		"passphrase": {importPass}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("import Notation: %d %s", resp.StatusCode, truncate(page))
	}
	_, page = b.Get("/migration")
	_, keys, _ := strings.Cut(page, `id="keys-prod"`)
	keys, _, _ = strings.Cut(keys, "</section>")
	for _, want := range []string{"the signer's DCT key", key.ID[:12], "RSA 3072", "release signing"} {
		if !strings.Contains(keys, want) {
			t.Errorf("the keys of prod lack %q: %s", want, keys)
		}
	}
	if strings.Contains(keys, `name="vault_key_id"`) || strings.Contains(keys, `name="certificate_chain"`) {
		t.Error("the forms are still offered once the namespace has both keys")
	}
}
