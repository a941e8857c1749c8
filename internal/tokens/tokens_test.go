package tokens

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	testIssuer  = "trustdeck"
	testService = "trustdeck-notary"
)

func newKey(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fixedClock returns an issuer clock that the test can move.
func fixedClock(i *Issuer, at time.Time) *time.Time {
	now := at
	i.now = func() time.Time { return now }
	return &now
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	iss := NewIssuer(newKey(t, elliptic.P256()), testIssuer, testService, 2*time.Minute)
	access := []Access{
		{Type: "repository", Name: "localhost:4443/prod/nginx", Actions: []string{"pull", "push"}},
		{Type: "repository", Name: "localhost:4443/prod/redis", Actions: []string{"*"}},
	}
	before := time.Now().Truncate(time.Second)
	tok, exp, iat, err := iss.Issue("alice", access)
	if err != nil {
		t.Fatal(err)
	}
	if iat.Before(before) || iat.After(time.Now()) || exp.Sub(iat) != 2*time.Minute || iat.Nanosecond() != 0 {
		t.Errorf("issuedAt %v, expiresAt %v", iat, exp)
	}

	c, err := iss.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "alice" || c.Issuer != testIssuer || !reflect.DeepEqual([]string(c.Audience), []string{testService}) {
		t.Errorf("claims %+v", c.RegisteredClaims)
	}
	if !c.ExpiresAt.Time.Equal(exp) || !c.IssuedAt.Time.Equal(iat) || !c.NotBefore.Time.Equal(iat) {
		t.Errorf("times exp=%v iat=%v nbf=%v, want exp=%v iat=%v", c.ExpiresAt, c.IssuedAt, c.NotBefore, exp, iat)
	}
	if len(c.ID) != 32 {
		t.Errorf("jti %q", c.ID)
	}
	if !reflect.DeepEqual(c.Access, access) {
		t.Errorf("access %+v, want %+v", c.Access, access)
	}

	// Two tokens never share a jti.
	tok2, _, _, _ := iss.Issue("alice", access)
	c2, err := iss.Verify(tok2)
	if err != nil {
		t.Fatal(err)
	}
	if c2.ID == c.ID {
		t.Error("jti repeated")
	}
}

func decodeSegment(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestTokenFormat checks the wire form against the token specification:
// header alg ES256 with the libtrust kid, a string aud, and access an array
// even when empty.
func TestTokenFormat(t *testing.T) {
	key := newKey(t, elliptic.P256())
	iss := NewIssuer(key, testIssuer, testService, 0)
	tok, _, _, err := iss.Issue("", nil)
	if err != nil {
		t.Fatal(err)
	}
	h := decodeSegment(t, tok, 0)
	kid, _ := KeyID(&key.PublicKey)
	if h["alg"] != "ES256" || h["typ"] != "JWT" || h["kid"] != kid {
		t.Errorf("header %v", h)
	}
	p := decodeSegment(t, tok, 1)
	for _, claim := range []string{"iss", "aud", "exp", "nbf", "iat", "jti", "access"} {
		if _, ok := p[claim]; !ok {
			t.Errorf("claim %q missing from %v", claim, p)
		}
	}
	if p["aud"] != testService {
		t.Errorf("aud %#v, want the string %q", p["aud"], testService)
	}
	if a, ok := p["access"].([]any); !ok || len(a) != 0 {
		t.Errorf("access %#v, want []", p["access"])
	}
	if exp, iat := p["exp"].(float64), p["iat"].(float64); exp-iat != DefaultTTL.Seconds() {
		t.Errorf("exp-iat = %v, want %v", exp-iat, DefaultTTL.Seconds())
	}

	tok, _, _, _ = iss.Issue("bob", []Access{{Type: "repository", Name: "x/y"}})
	acc := decodeSegment(t, tok, 1)["access"].([]any)[0].(map[string]any)
	if a, ok := acc["actions"].([]any); !ok || len(a) != 0 {
		t.Errorf("actions %#v, want []", acc["actions"])
	}
}

func TestClaimsJSONAudiences(t *testing.T) {
	tests := []struct {
		aud  jwt.ClaimStrings
		want string
	}{
		{nil, `{"access":[]}`},
		{jwt.ClaimStrings{"a"}, `{"aud":"a","access":[]}`},
		{jwt.ClaimStrings{"a", "b"}, `{"aud":["a","b"],"access":[]}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(Claims{RegisteredClaims: jwt.RegisteredClaims{Audience: tt.aud}})
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tt.want {
			t.Errorf("audience %q: %s, want %s", tt.aud, b, tt.want)
		}
		var back Claims
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if len(back.Audience) != len(tt.aud) {
			t.Errorf("audience %q read back as %q", tt.aud, back.Audience)
		}
	}
}

func TestVerifyTimes(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		offset time.Duration // verification time minus issue time
		ok     bool
	}{
		{"at issue", 0, true},
		{"just before expiry", 5*time.Minute - time.Second, true},
		{"within leeway after expiry", 5*time.Minute + Leeway/2, true},
		{"expired", 5*time.Minute + Leeway + time.Second, false},
		{"long expired", 24 * time.Hour, false},
		{"issued slightly in the future (clock skew)", -Leeway / 2, true},
		{"not yet valid", -time.Minute, false},
	}
	iss := NewIssuer(newKey(t, elliptic.P256()), testIssuer, testService, 5*time.Minute)
	clock := fixedClock(iss, start)
	tok, _, _, err := iss.Issue("alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			*clock = start.Add(tt.offset)
			_, err := iss.Verify(tok)
			if (err == nil) != tt.ok {
				t.Fatalf("Verify: err = %v, want ok = %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if tt.offset > 5*time.Minute && err != nil && !errors.Is(err, jwt.ErrTokenExpired) {
				t.Errorf("error %v does not wrap jwt.ErrTokenExpired", err)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	key := newKey(t, elliptic.P256())
	iss := NewIssuer(key, testIssuer, testService, time.Minute)
	now := time.Now()
	good := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    testIssuer,
			Subject:   "mallory",
			Audience:  jwt.ClaimStrings{testService},
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
		},
		Access: []Access{{Type: "repository", Name: "prod/app", Actions: []string{"*"}}},
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(m jwt.SigningMethod, c Claims, k any) string {
		t.Helper()
		tok := jwt.NewWithClaims(m, c)
		tok.Header["kid"] = iss.KeyID()
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	with := func(f func(*Claims)) Claims {
		c := good
		f(&c)
		return c
	}
	other := NewIssuer(newKey(t, elliptic.P256()), testIssuer, testService, time.Minute)
	otherTok, _, _, _ := other.Issue("mallory", good.Access)
	okTok := sign(jwt.SigningMethodES256, good, key)
	parts := strings.Split(okTok, ".")
	tamperedPayload, _ := json.Marshal(with(func(c *Claims) { c.Subject = "admin" }))

	tests := []struct {
		name  string
		token string
	}{
		{"signed by another key", otherTok},
		{"signed by another key, our kid", sign(jwt.SigningMethodES256, good, newKey(t, elliptic.P256()))},
		{"alg none", sign(jwt.SigningMethodNone, good, jwt.UnsafeAllowNoneSignatureType)},
		{"HS256 keyed with our public key", sign(jwt.SigningMethodHS256, good, pubDER)},
		{"ES384", sign(jwt.SigningMethodES384, good, newKey(t, elliptic.P384()))},
		{"wrong audience", sign(jwt.SigningMethodES256, with(func(c *Claims) { c.Audience = jwt.ClaimStrings{"registry"} }), key)},
		{"no audience", sign(jwt.SigningMethodES256, with(func(c *Claims) { c.Audience = nil }), key)},
		{"wrong issuer", sign(jwt.SigningMethodES256, with(func(c *Claims) { c.Issuer = "someone" }), key)},
		{"no expiry", sign(jwt.SigningMethodES256, with(func(c *Claims) { c.ExpiresAt = nil }), key)},
		{"expired", sign(jwt.SigningMethodES256, with(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute)) }), key)},
		{"not yet valid", sign(jwt.SigningMethodES256, with(func(c *Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) }), key)},
		{"issued in the future", sign(jwt.SigningMethodES256, with(func(c *Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) }), key)},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString(tamperedPayload) + "." + parts[2]},
		{"signature stripped", parts[0] + "." + parts[1] + "."},
		{"garbage", "not.a.token"},
		{"empty", ""},
		{"huge", strings.Repeat("a", maxTokenLen+1)},
	}
	if _, err := iss.Verify(okTok); err != nil {
		t.Fatalf("the untampered control token fails: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := iss.Verify(tt.token)
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if c != nil {
				t.Errorf("claims returned with an error")
			}
		})
	}
}

func TestNewIssuerRejectsOtherCurves(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewIssuer accepted a P-384 key")
		}
	}()
	NewIssuer(newKey(t, elliptic.P384()), testIssuer, testService, time.Minute)
}

func TestKeyID(t *testing.T) {
	key := newKey(t, elliptic.P256())
	kid, err := KeyID(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$`).MatchString(kid) {
		t.Fatalf("kid %q is not 12 groups of 4 base32 characters", kid)
	}
	raw, err := base32.StdEncoding.DecodeString(strings.ReplaceAll(kid, ":", ""))
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	sum := sha256.Sum256(der)
	if string(raw) != string(sum[:30]) {
		t.Errorf("kid %q does not encode the first 240 bits of sha256(DER)", kid)
	}
	again, _ := KeyID(&key.PublicKey)
	other, _ := KeyID(&newKey(t, elliptic.P256()).PublicKey)
	if again != kid || other == kid {
		t.Error("kid not a stable function of the key")
	}
}

func TestAllows(t *testing.T) {
	c := &Claims{Access: []Access{
		{Type: "repository", Name: "localhost:4443/prod/nginx", Actions: []string{"pull"}},
		{Type: "repository", Name: "localhost:4443/prod/nginx", Actions: []string{"push"}},
		{Type: "repository", Name: "localhost:4443/prod/redis", Actions: []string{"*"}},
		{Type: "registry", Name: "catalog", Actions: []string{"*"}},
		{Type: "repository(plugin)", Name: "plug/in", Actions: []string{"pull"}},
	}}
	tests := []struct {
		typ, name, action string
		want              bool
	}{
		{"repository", "localhost:4443/prod/nginx", "pull", true},
		{"repository", "localhost:4443/prod/nginx", "push", true},
		{"repository", "localhost:4443/prod/nginx", "*", false},
		{"repository", "localhost:4443/prod/nginx", "delete", false},
		{"repository", "localhost:4443/prod/redis", "pull", true},
		{"repository", "localhost:4443/prod/redis", "push", true},
		{"repository", "localhost:4443/prod/redis", "*", true},
		{"repository", "localhost:4443/prod/redis2", "pull", false},
		{"repository", "localhost:4443/prod", "pull", false},
		{"repository", "prod/nginx", "pull", false},
		{"registry", "catalog", "*", true},
		{"registry", "localhost:4443/prod/redis", "pull", false},
		{"repository", "catalog", "pull", false},
		{"repository", "plug/in", "pull", false},
		{"repository(plugin)", "plug/in", "pull", true},
	}
	for _, tt := range tests {
		if got := c.Allows(tt.typ, tt.name, tt.action); got != tt.want {
			t.Errorf("Allows(%q, %q, %q) = %v, want %v", tt.typ, tt.name, tt.action, got, tt.want)
		}
	}
	var none *Claims
	if none.Allows("repository", "x", "pull") {
		t.Error("nil claims allow")
	}
}

func TestParseScope(t *testing.T) {
	tests := []struct {
		scope   string
		want    []Access
		wantErr bool
	}{
		{scope: "", want: nil},
		{scope: "   ", want: nil},
		{scope: "repository:samalba/my-app:pull", want: []Access{{"repository", "samalba/my-app", []string{"pull"}}}},
		{scope: "repository:localhost:4443/prod/nginx:pull,push", want: []Access{{"repository", "localhost:4443/prod/nginx", []string{"pull", "push"}}}},
		{scope: "repository:127.0.0.1:5000/a:*", want: []Access{{"repository", "127.0.0.1:5000/a", []string{"*"}}}},
		{scope: "repository:[::1]:4443/a/b/c:pull", want: []Access{{"repository", "[::1]:4443/a/b/c", []string{"pull"}}}},
		{scope: "repository:Registry.Example.com/UPPER_ok-name.x:pull", want: []Access{{"repository", "Registry.Example.com/UPPER_ok-name.x", []string{"pull"}}}},
		{scope: "registry:catalog:*", want: []Access{{"registry", "catalog", []string{"*"}}}},
		{scope: "repository(plugin):vieux/sshfs:pull", want: []Access{{"repository(plugin)", "vieux/sshfs", []string{"pull"}}}},
		{
			scope: "repository:h:1/a:pull  repository:h:1/b:push,pull\trepository:h:1/a:push,pull",
			want: []Access{
				{"repository", "h:1/a", []string{"pull", "push"}},
				{"repository", "h:1/b", []string{"push", "pull"}},
			},
		},
		{scope: "repository:a:pull,pull", want: []Access{{"repository", "a", []string{"pull"}}}},
		{scope: "repository", wantErr: true},
		{scope: "repository:nginx", wantErr: true},
		{scope: "repository::pull", wantErr: true},
		{scope: "repository:nginx:", wantErr: true},
		{scope: ":nginx:pull", wantErr: true},
		{scope: "Repository:nginx:pull", wantErr: true},
		{scope: "repo-sitory:nginx:pull", wantErr: true},
		{scope: "repository(:nginx:pull", wantErr: true},
		{scope: "repository(Plugin):nginx:pull", wantErr: true},
		{scope: "repository():nginx:pull", wantErr: true},
		{scope: "repository:nginx:pull,", wantErr: true},
		{scope: "repository:nginx:pull,,push", wantErr: true},
		{scope: "repository:nginx:PULL", wantErr: true},
		{scope: "repository:nginx:pu-ll", wantErr: true},
		{scope: "repository:nginx:**", wantErr: true},
		{scope: "repository:/nginx:pull", wantErr: true},
		{scope: "repository:nginx/:pull", wantErr: true},
		{scope: "repository:a//b:pull", wantErr: true},
		{scope: "repository:a/b:c/d:pull", wantErr: true},
		{scope: `repository:a"b:pull`, wantErr: true},
		{scope: "repository:nginx:pull repository:bad", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseScope(tt.scope)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseScope(%q) = %+v, want an error", tt.scope, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseScope(%q): %v", tt.scope, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseScope(%q) = %+v, want %+v", tt.scope, got, tt.want)
		}
	}
}

func TestChallenge(t *testing.T) {
	tests := []struct {
		realm, service string
		scopes         []string
		want           string
	}{
		{"https://localhost:4443/auth/token", "trustdeck", nil,
			`Bearer realm="https://localhost:4443/auth/token",service="trustdeck"`},
		{"https://localhost:4443/auth/token", "trustdeck", []string{"repository:localhost:4443/prod/nginx:pull,push"},
			`Bearer realm="https://localhost:4443/auth/token",service="trustdeck",scope="repository:localhost:4443/prod/nginx:pull,push"`},
		{"https://h/auth", "svc", []string{"repository:a:pull", "", "registry:catalog:*"},
			`Bearer realm="https://h/auth",service="svc",scope="repository:a:pull registry:catalog:*"`},
		{"https://h/auth", "svc", []string{""},
			`Bearer realm="https://h/auth",service="svc"`},
		{`https://h/a"b\c`, "s\"vc\r\n", nil,
			`Bearer realm="https://h/a\"b\\c",service="s\"vc"`},
	}
	for _, tt := range tests {
		if got := Challenge(tt.realm, tt.service, tt.scopes...); got != tt.want {
			t.Errorf("Challenge(%q, %q, %q)\n got %s\nwant %s", tt.realm, tt.service, tt.scopes, got, tt.want)
		}
	}
}

// TestChallengeRoundTrip parses the challenge back the way a client does: a
// scheme, then comma-separated key="quoted-string" pairs.
func TestChallengeRoundTrip(t *testing.T) {
	realm, service, scope := `https://h:1/auth?x="y"`, `we\ird,"svc"`, "repository:h:1/a:pull"
	got := parseChallenge(t, Challenge(realm, service, scope))
	want := map[string]string{"realm": realm, "service": service, "scope": scope}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed %q, want %q", got, want)
	}
}

func parseChallenge(t *testing.T, h string) map[string]string {
	t.Helper()
	rest, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		t.Fatalf("no Bearer scheme: %s", h)
	}
	out := map[string]string{}
	for rest != "" {
		key, after, ok := strings.Cut(rest, `="`)
		if !ok {
			t.Fatalf("bad parameter in %s", h)
		}
		var val strings.Builder
		i := 0
		for ; i < len(after) && after[i] != '"'; i++ {
			if after[i] == '\\' {
				i++
			}
			val.WriteByte(after[i])
		}
		out[key] = val.String()
		rest = strings.TrimPrefix(after[i+1:], ",")
	}
	return out
}

// TestVerifyRemembersValidTokens: a token that passed is not verified again
// (its claims come back as they were) while it is valid, and refused as
// soon as it is not; forged and expired tokens are never remembered; at most
// VerifiedTokens are kept.
func TestVerifyRemembersValidTokens(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	iss := NewIssuer(newKey(t, elliptic.P256()), testIssuer, testService, 5*time.Minute)
	clock := fixedClock(iss, start)
	tok, _, _, err := iss.Issue("alice", []Access{{Type: "repository", Name: "r/a/b", Actions: []string{"pull"}}})
	if err != nil {
		t.Fatal(err)
	}
	first, err := iss.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	again, err := iss.Verify(tok)
	if err != nil || again != first {
		t.Fatalf("a valid token was verified anew (%v)", err)
	}
	*clock = start.Add(5*time.Minute + Leeway)
	if _, err := iss.Verify(tok); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Fatalf("a remembered token once expired: %v, want expired", err)
	}
	*clock = start

	other := NewIssuer(newKey(t, elliptic.P256()), testIssuer, testService, 5*time.Minute)
	fixedClock(other, start)
	forged, _, _, _ := other.Issue("mallory", nil)
	for range 2 {
		if _, err := iss.Verify(forged); err == nil {
			t.Fatal("a token of another key was accepted")
		}
	}
	if n := iss.verified.Len(); n != 1 {
		t.Errorf("%d tokens remembered, want 1 (refusals are not)", n)
	}

	for i := range VerifiedTokens + 10 {
		tok, _, _, err := iss.Issue(fmt.Sprint("user", i), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := iss.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := iss.verified.Len(); n != VerifiedTokens {
		t.Errorf("%d tokens remembered, bound %d", n, VerifiedTokens)
	}
}
