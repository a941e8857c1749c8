package resign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v2"

	"github.com/trustdeck/trustdeck/internal/errs"
)

var testImage = Image{Registry: "reg.example:5000", Repository: "prod/app",
	Digest:    "sha256:" + strings.Repeat("ab", 32),
	MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 1234}

func TestCosignPayloadShape(t *testing.T) {
	for _, tc := range []struct {
		name string
		prov Provenance
		want string
	}{
		{"with DCT provenance", Provenance{Tag: "v1", Signers: []string{"alice", "targets"}, TrustVersion: 3},
			`{"critical":{"identity":{"docker-reference":"reg.example:5000/prod/app"},` +
				`"image":{"docker-manifest-digest":"` + testImage.Digest + `"},"type":"cosign container image signature"},` +
				`"optional":{"io.trustdeck.dct.signers":"alice,targets","io.trustdeck.dct.tag":"v1","io.trustdeck.dct.trust-version":"3"}}`},
		{"without", Provenance{},
			`{"critical":{"identity":{"docker-reference":"reg.example:5000/prod/app"},` +
				`"image":{"docker-manifest-digest":"` + testImage.Digest + `"},"type":"cosign container image signature"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CosignPayload(testImage, tc.prov)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("payload\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestNewCosignRefusesOtherKeys(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	for name, key := range map[string]crypto.Signer{"P-384": p384, "RSA": rsaKey, "Ed25519": edKey} {
		_, err := NewCosign(nil, key)
		if e, ok := errs.As(err); !ok || e.Kind != errs.Invalid || e.Code != "cosign_key_type" {
			t.Errorf("%s: %v, want errs.Invalid cosign_key_type", name, err)
		}
	}
}

// testChain makes a CA and a leaf with the leaf template changed by edit.
func testChain(t *testing.T, edit func(*x509.Certificate)) (*ecdsa.PrivateKey, []*x509.Certificate) {
	t.Helper()
	caKey, leafKey := genKey(t), genKey(t)
	now := time.Now()
	ca, err := NewNotationCA(caKey, pkix.Name{CommonName: "CA", Organization: []string{"o"}}, now, NotationCAValidity)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		Subject:   pkix.Name{CommonName: "leaf", Country: []string{"XX"}, Province: []string{"S"}, Organization: []string{"o"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	if edit != nil {
		edit(tmpl)
	}
	leaf, err := createCert(tmpl, ca, leafKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	return leafKey, []*x509.Certificate{leaf, ca}
}

func TestValidateNotationChain(t *testing.T) {
	now := time.Now()
	if _, chain := testChain(t, nil); ValidateNotationChain(chain, now) != nil {
		t.Fatalf("trustdeck's own chain refused: %v", ValidateNotationChain(chain, now))
	}
	for _, tc := range []struct {
		name string
		edit func(*x509.Certificate)
		want string
	}{
		{"keyEncipherment, as notary's delegation certificates", func(c *x509.Certificate) {
			c.KeyUsage |= x509.KeyUsageKeyEncipherment
		}, "digitalSignature only"},
		{"no digitalSignature", func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageContentCommitment }, "must include digitalSignature"},
		{"serverAuth EKU", func(c *x509.Certificate) { c.ExtKeyUsage = append(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth) }, "not allowed"},
		{"leaf is a CA", func(c *x509.Certificate) { c.IsCA, c.KeyUsage = true, x509.KeyUsageDigitalSignature }, "must not be a CA"},
		{"expired", func(c *x509.Certificate) { c.NotAfter = now.Add(-time.Minute) }, "not at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, chain := testChain(t, tc.edit)
			err := ValidateNotationChain(chain, now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	_, chain := testChain(t, nil)
	if err := ValidateNotationChain(chain[:1], now); err == nil {
		t.Error("a lone leaf was accepted")
	}
	if err := ValidateNotationChain([]*x509.Certificate{chain[0], chain[0]}, now); err == nil {
		t.Error("a chain not ending in a self-signed root was accepted")
	}
}

func TestCheckNotationKey(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	for name, pub := range map[string]any{"RSA 1024": &small.PublicKey, "P-224": &p224.PublicKey, "Ed25519": edPub} {
		if e, ok := errs.As(CheckNotationKey(pub)); !ok || e.Code != "notation_key_type" {
			t.Errorf("%s accepted or refused wrongly: %v", name, CheckNotationKey(pub))
		}
	}
	rsa3072, _ := rsa.GenerateKey(rand.Reader, 3072)
	if err := CheckNotationKey(&rsa3072.PublicKey); err != nil {
		t.Errorf("RSA 3072 refused: %v", err)
	}
}

func decodeSegment(t *testing.T, s string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}

func TestNotationEnvelopeShape(t *testing.T) {
	key, chain := testChain(t, nil)
	signedAt := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	raw, err := NotationEnvelope(key, chain, testImage, Provenance{Tag: "v1"}, signedAt, 0)
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(slices.Sorted(maps.Keys(env)), ","); got != "header,payload,protected,signature" {
		t.Errorf("envelope members %s", got)
	}
	var jws JWSEnvelope
	_ = json.Unmarshal(raw, &jws)
	var hdr map[string]any
	decodeSegment(t, jws.Protected, &hdr)
	want := map[string]any{
		"alg": "ES256", "cty": "application/vnd.cncf.notary.payload.v1+json",
		"crit":                         []any{"io.cncf.notary.signingScheme"},
		"io.cncf.notary.signingScheme": "notary.x509",
		"io.cncf.notary.signingTime":   "2026-12-05T10:00:00Z",
	}
	if !reflect.DeepEqual(hdr, want) {
		t.Errorf("protected header\n got %v\nwant %v", hdr, want)
	}
	var payload map[string]any
	decodeSegment(t, jws.Payload, &payload)
	wantPayload := map[string]any{"targetArtifact": map[string]any{
		"mediaType": testImage.MediaType, "digest": testImage.Digest, "size": float64(testImage.Size),
		"annotations": map[string]any{AnnotationTag: "v1"},
	}}
	if !reflect.DeepEqual(payload, wantPayload) {
		t.Errorf("payload\n got %v\nwant %v", payload, wantPayload)
	}
	if len(jws.Header.X5C) != 2 || string(jws.Header.X5C[0]) != string(chain[0].Raw) || string(jws.Header.X5C[1]) != string(chain[1].Raw) {
		t.Error("x5c is not the chain, leaf first")
	}
	if jws.Header.SigningAgent != "trustdeck" {
		t.Errorf("signing agent %q", jws.Header.SigningAgent)
	}
	if sig, _ := base64.RawURLEncoding.DecodeString(jws.Signature); len(sig) != 64 {
		t.Errorf("ES256 signature of %d bytes, want r||s of 64", len(sig))
	}

	// With an expiry, it is marked critical.
	raw, _ = NotationEnvelope(key, chain, testImage, Provenance{}, signedAt, time.Hour)
	_ = json.Unmarshal(raw, &jws)
	decodeSegment(t, jws.Protected, &hdr)
	if hdr["io.cncf.notary.expiry"] != "2026-12-05T11:00:00Z" ||
		!reflect.DeepEqual(hdr["crit"], []any{"io.cncf.notary.signingScheme", "io.cncf.notary.expiry"}) {
		t.Errorf("protected header with expiry: %v", hdr)
	}
}

func TestVerifyNotationEnvelope(t *testing.T) {
	key, chain := testChain(t, nil)
	now := time.Now().UTC().Truncate(time.Second)
	roots := chain[1:]
	sign := func(expiry time.Duration) []byte {
		raw, err := NotationEnvelope(key, chain, testImage, Provenance{Tag: "v1"}, now, expiry)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	edit := func(raw []byte, f func(*JWSEnvelope)) []byte {
		var e JWSEnvelope
		_ = json.Unmarshal(raw, &e)
		f(&e)
		b, _ := json.Marshal(e)
		return b
	}
	reheader := func(f func(map[string]any)) []byte {
		return edit(sign(0), func(e *JWSEnvelope) {
			var h map[string]any
			decodeSegment(t, e.Protected, &h)
			f(h)
			hb, _ := json.Marshal(h)
			e.Protected = base64.RawURLEncoding.EncodeToString(hb)
			sig, err := jwsSign(key, "ES256", []byte(e.Protected+"."+e.Payload))
			if err != nil {
				t.Fatal(err)
			}
			e.Signature = base64.RawURLEncoding.EncodeToString(sig)
		})
	}
	_, otherChain := testChain(t, nil)

	v, err := VerifyNotationEnvelope(sign(0), roots, now)
	if err != nil {
		t.Fatalf("own envelope: %v", err)
	}
	if v.Payload.TargetArtifact.Digest != testImage.Digest || v.LeafID != KeyID(chain[0].Raw) || !v.SigningTime.Equal(now) {
		t.Errorf("read back %+v", v)
	}

	for _, tc := range []struct {
		name  string
		raw   []byte
		roots []*x509.Certificate
		at    time.Time
		want  string
	}{
		{"payload altered", edit(sign(0), func(e *JWSEnvelope) {
			p, _ := base64.RawURLEncoding.DecodeString(e.Payload)
			e.Payload = base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(p), "v1", "v2", 1)))
		}), roots, now, "altered"},
		{"another CA", sign(0), otherChain[1:], now, "trusted root"},
		{"expired signature", sign(time.Hour), roots, now.Add(2 * time.Hour), "expired"},
		{"certificate expired since", sign(0), roots, now.Add(2 * NotationCAValidity), "not at"},
		{"crit without signing scheme", reheader(func(h map[string]any) { h["crit"] = []string{"io.cncf.notary.signingTime"} }), roots, now, "not marked critical"},
		{"crit names an absent header", reheader(func(h map[string]any) {
			h["crit"] = []string{"io.cncf.notary.signingScheme", "io.example.absent"}
		}), roots, now, "not present"},
		{"another signing scheme", reheader(func(h map[string]any) { h["io.cncf.notary.signingScheme"] = "notary.x509.signingAuthority" }), roots, now, "signing scheme"},
		{"alg not the key's", reheader(func(h map[string]any) { h["alg"] = "PS256" }), roots, now, "says PS256"},
		{"not JSON", []byte("eyJ.x.y"), roots, now, "not a JWS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyNotationEnvelope(tc.raw, tc.roots, tc.at)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestNotationManifestShape(t *testing.T) {
	_, chain := testChain(t, nil)
	signedAt := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	env := []byte(`{"x":1}`)
	envDigest := sha256.Sum256(env)
	raw, err := notationManifest(testImage, env, chain, signedAt)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	thumbs, _ := json.Marshal([]string{KeyID(chain[0].Raw), KeyID(chain[1].Raw)})
	want := map[string]any{
		"schemaVersion": float64(2),
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.cncf.notary.signature",
			"digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": float64(2)},
		"layers": []any{map[string]any{"mediaType": "application/jose+json",
			"digest": "sha256:" + hex.EncodeToString(envDigest[:]), "size": float64(len(env))}},
		"subject": map[string]any{"mediaType": testImage.MediaType, "digest": testImage.Digest, "size": float64(testImage.Size)},
		"annotations": map[string]any{"io.cncf.notary.x509chain.thumbprint#S256": string(thumbs),
			"org.opencontainers.image.created": "2026-12-05T10:00:00Z"},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("manifest\n got %v\nwant %v", m, want)
	}
}

func TestTrustPolicyShape(t *testing.T) {
	scope := PolicyScope{Registry: "reg.example:5000", Namespace: "prod", Repositories: []string{"web", "app", "app"},
		Identities: []string{"CN=prod Notation signer,O=trustdeck,ST=S,C=XX"}}
	raw, err := NotationTrustPolicy(scope)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"version": "1.0", "trustPolicies": []any{map[string]any{
		"name":                  "trustdeck-prod",
		"registryScopes":        []any{"reg.example:5000/prod/app", "reg.example:5000/prod/web"},
		"signatureVerification": map[string]any{"level": "strict"},
		"trustStores":           []any{"ca:trustdeck-prod"},
		"trustedIdentities":     []any{"x509.subject: CN=prod Notation signer,O=trustdeck,ST=S,C=XX"},
	}}}
	if !reflect.DeepEqual(doc, want) {
		t.Errorf("trust policy\n got %v\nwant %v", doc, want)
	}
	scope.Identities = nil
	raw, _ = NotationTrustPolicy(scope)
	if !strings.Contains(string(raw), `"trustedIdentities": [
        "*"
      ]`) {
		t.Errorf("without identities: %s", raw)
	}
	scope.Repositories = nil
	if _, err := NotationTrustPolicy(scope); err == nil {
		t.Error("a policy for no repositories was written")
	}
}

func TestKyvernoPolicyShape(t *testing.T) {
	k := newTestKeys(t, "prod")
	pub, _ := PublicKeysPEM(k.cosign.Public())
	scope := PolicyScope{Registry: "reg.example:5000", Namespace: "prod", Repositories: []string{"app"}}
	raw, err := KyvernoPolicy(scope, pub, CertificatesPEM(k.ca))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct{ Name string }
		Spec       struct {
			ValidationFailureAction string `yaml:"validationFailureAction"`
			Rules                   []struct {
				Name         string
				VerifyImages []struct {
					Type            string   `yaml:"type"`
					ImageReferences []string `yaml:"imageReferences"`
					Attestors       []struct {
						Entries []struct {
							Keys struct {
								PublicKeys string `yaml:"publicKeys"`
								Rekor      struct {
									IgnoreTlog bool `yaml:"ignoreTlog"`
								}
							}
							Certificates struct{ Cert string }
						}
					}
				} `yaml:"verifyImages"`
			}
		}
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, raw)
	}
	if doc.APIVersion != "kyverno.io/v1" || doc.Kind != "ClusterPolicy" || doc.Metadata.Name != "trustdeck-prod" ||
		doc.Spec.ValidationFailureAction != "Enforce" || len(doc.Spec.Rules) != 2 {
		t.Fatalf("policy %+v", doc)
	}
	refs := []string{"reg.example:5000/prod/app:*", "reg.example:5000/prod/app@*"}
	cos, nota := doc.Spec.Rules[0].VerifyImages[0], doc.Spec.Rules[1].VerifyImages[0]
	if !reflect.DeepEqual(cos.ImageReferences, refs) || !reflect.DeepEqual(nota.ImageReferences, refs) {
		t.Errorf("image references %v / %v", cos.ImageReferences, nota.ImageReferences)
	}
	if got := cos.Attestors[0].Entries[0].Keys; got.PublicKeys != strings.TrimSpace(string(pub)) || !got.Rekor.IgnoreTlog {
		t.Errorf("cosign attestor %+v", got)
	}
	if nota.Type != "Notary" || nota.Attestors[0].Entries[0].Certificates.Cert != strings.TrimSpace(string(CertificatesPEM(k.ca))) {
		t.Errorf("notation attestor %+v", nota)
	}
}

// A registry that refuses pushes (403): Sign says so, as a RegistryError.
func TestSignRefusedPush(t *testing.T) {
	open := newRegistryHandler(false)
	var readOnly atomic.Bool
	tr := serveRegistry(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if readOnly.Load() && r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`, http.StatusForbidden)
			return
		}
		open.ServeHTTP(w, r)
	}))
	reg := tr.reg
	img := tr.pushImage(t, "prod/app", "v1")
	readOnly.Store(true)
	cosign, notation := newTestKeys(t, "prod").formats(t, reg)
	for _, f := range []Format{cosign, notation} {
		_, err := f.Sign(context.Background(), img, Provenance{Tag: "v1"})
		var re *RegistryError
		if !errors.As(err, &re) || re.Status != http.StatusForbidden {
			t.Errorf("%s: %v, want a RegistryError with 403", f.Name(), err)
		}
	}
	// Plain HTTP is refused outright.
	plain := Image{Registry: "127.0.0.1:1", Repository: "prod/app", Digest: img.Digest, MediaType: img.MediaType, Size: img.Size}
	if _, err := cosign.Find(context.Background(), plain); err == nil {
		t.Error("Find on an unreachable registry succeeded")
	}
}

// Behind the registry token protocol: notaryclient's transport answers each
// challenge, under go-containerregistry's requests (pings, blob uploads,
// manifest and referrers-index pushes). The registry admits a request only
// with the token for its repository's scope.
func TestSignThroughTokenAuth(t *testing.T) {
	inner := newRegistryHandler(false)
	var realm atomic.Value
	var challenges, issued atomic.Int64
	tr := serveRegistry(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			issued.Add(1)
			scope := r.URL.Query().Get("scope")
			_ = json.NewEncoder(w).Encode(map[string]any{"token": "tok " + scope, "expires_in": 300})
			return
		}
		scope := ""
		if parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v2/"), "/"); len(parts) >= 3 {
			// /v2/<ns>/<name>/{manifests,blobs,referrers}/…
			scope = "repository:" + parts[0] + "/" + parts[1] + ":pull,push"
		}
		if r.Header.Get("Authorization") != "Bearer tok "+scope {
			challenges.Add(1)
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm.Load().(string)+`",service="test",scope="`+scope+`"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	realm.Store("https://" + tr.Host + "/token")
	img := tr.pushImage(t, "prod/app", "v1")
	reg := tr.reg
	cosign, notation := newTestKeys(t, "prod").formats(t, reg)
	ctx := context.Background()
	for _, f := range []Format{cosign, notation} {
		for round, wantAdded := range []bool{true, false} {
			out, err := f.Sign(ctx, img, Provenance{Tag: "v1"})
			if err != nil || out.Added != wantAdded {
				t.Fatalf("%s sign #%d: %+v %v, want added=%v", f.Name(), round+1, out, err, wantAdded)
			}
		}
		if sigs, err := f.Find(ctx, img); err != nil || len(sigs) != 1 || !sigs[0].Verified {
			t.Errorf("%s find: %+v %v", f.Name(), sigs, err)
		}
	}
	if challenges.Load() == 0 || issued.Load() == 0 {
		t.Errorf("%d challenges, %d tokens: the registry's auth was not exercised", challenges.Load(), issued.Load())
	}
}

// Tags sharing a digest, signed at once (the migration signs in parallel):
// every signature lands, none overwrites another's manifest or index entry.
func TestConcurrentSignSameDigest(t *testing.T) {
	for _, referrersAPI := range []bool{false, true} {
		r := newTestRegistry(t, referrersAPI)
		img := r.pushImage(t, "prod/app", "v1")
		cosign, notation := newTestKeys(t, "prod").formats(t, r.reg)
		for _, f := range []Format{cosign, notation} {
			const n = 6
			errc := make(chan error, n)
			for i := range n {
				go func() {
					_, err := f.Sign(context.Background(), img, Provenance{Tag: fmt.Sprint("tag", i)})
					errc <- err
				}()
			}
			for range n {
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
			}
			sigs, err := f.Find(context.Background(), img)
			tags := map[string]bool{}
			for _, s := range sigs {
				if s.Verified && s.Provenance != nil {
					tags[s.Provenance.Tag] = true
				}
			}
			if err != nil || len(sigs) != n || len(tags) != n {
				t.Errorf("%s (referrers API %v): %d signatures for %d tags (%v), want %d", f.Name(), referrersAPI, len(sigs), len(tags), err, n)
			}
		}
	}
}
