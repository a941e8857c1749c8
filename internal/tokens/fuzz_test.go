package tokens

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// formatScope writes access as the scope parameter ParseScope reads.
func formatScope(access []Access) string {
	scopes := make([]string, len(access))
	for i, a := range access {
		scopes[i] = a.Type + ":" + a.Name + ":" + strings.Join(a.Actions, ",")
	}
	return strings.Join(scopes, " ")
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{
		"repository:localhost:4443/prod/nginx:pull,push", "repository:localhost:4443/prod/nginx:pull",
		"repository:samalba/my-app:pull repository:samalba/my-app:push", "repository:h:1/a:pull  repository:h:1/b:push,pull\trepository:h:1/a:*",
		"registry:catalog:*", "repository(plugin):vieux/sshfs:pull", "repository:[::1]:4443/a/b:pull",
		"repository:a:pull,pull", "", " \t ", "repository", "repository:nginx", "repository::pull", "repository:nginx:",
		"Repository:nginx:pull", "repository():a:pull", "repository:a//b:pull", "repository:a/b:c/d:pull",
		"repository:nginx:pull,,push", "repository:nginx:PULL", `repository:a"b:pull`, "repository:" + strings.Repeat("a", 513) + ":pull",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, scope string) {
		access, err := ParseScope(scope)
		if err != nil {
			if access != nil || !strings.HasPrefix(err.Error(), "tokens: malformed scope ") {
				t.Fatalf("ParseScope(%q) = %+v, %v", scope, access, err)
			}
			return
		}
		if strings.TrimSpace(scope) == "" {
			if access != nil {
				t.Fatalf("blank scope %q grants %+v", scope, access)
			}
			return
		}
		// Every resource is named once, with valid parts and distinct actions.
		for i, a := range access {
			if !validType(a.Type) || !validName(a.Name) || len(a.Actions) == 0 {
				t.Fatalf("ParseScope(%q) = invalid entry %+v", scope, a)
			}
			for j, act := range a.Actions {
				if !validAction(act) || slices.Contains(a.Actions[:j], act) {
					t.Fatalf("ParseScope(%q): action %q of %+v", scope, act, a)
				}
			}
			for _, b := range access[:i] {
				if a.Type == b.Type && a.Name == b.Name {
					t.Fatalf("ParseScope(%q) names %s:%s twice", scope, a.Type, a.Name)
				}
			}
		}
		// Written back out, the result parses to itself.
		again, err := ParseScope(formatScope(access))
		if err != nil || !reflect.DeepEqual(again, access) {
			t.Fatalf("ParseScope(%q) = %+v; written as %q it parses to %+v, %v", scope, access, formatScope(access), again, err)
		}
		// Merging loses no action any single scope asked for.
		claims := &Claims{Access: access}
		for _, s := range strings.Fields(scope) {
			one, err := ParseScope(s)
			if err != nil || len(one) != 1 {
				t.Fatalf("ParseScope(%q) succeeded, but its part %q gives %+v, %v", scope, s, one, err)
			}
			for _, act := range one[0].Actions {
				if !claims.Allows(one[0].Type, one[0].Name, act) {
					t.Fatalf("ParseScope(%q) lost %s on %s:%s", scope, act, one[0].Type, one[0].Name)
				}
			}
		}
	})
}

// fuzzNow is the fuzz issuer's clock: fixed, so that the seed tokens stay
// valid and every input gives the same answer in every run.
var fuzzNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fuzzIssuer signs with a key derived from a fixed seed: the fuzzing
// workers are separate processes, and a token one of them mutates must mean
// the same to all of them.
func fuzzIssuer(tb testing.TB, seed string) *Issuer {
	tb.Helper()
	d := sha256.Sum256([]byte(seed))
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		tb.Fatal(err)
	}
	iss := NewIssuer(key, testIssuer, testService, 5*time.Minute)
	iss.now = func() time.Time { return fuzzNow }
	return iss
}

// signed is a token for claims made with method and key, with the given kid.
func signed(tb testing.TB, method jwt.SigningMethod, c Claims, key any, kid string) string {
	tb.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func FuzzVerify(f *testing.F) {
	iss := fuzzIssuer(f, "trustdeck fuzz issuer")
	other := fuzzIssuer(f, "another issuer")
	pushPull := []Access{{Type: "repository", Name: "localhost:4443/prod/nginx", Actions: []string{"pull", "push"}}}
	for _, tc := range []struct {
		subject string
		access  []Access
	}{
		{"alice", pushPull},
		{"", nil},
		{"admin", []Access{{Type: "repository", Name: "localhost:4443/prod/nginx", Actions: []string{"*"}}, {Type: "registry", Name: "catalog", Actions: []string{"*"}}}},
	} {
		tok, _, _, err := iss.Issue(tc.subject, tc.access)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
		parts := strings.Split(tok, ".")
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(parts[0] + "." + parts[1])
		f.Add(parts[0] + "." + parts[1] + "." + parts[2] + "=")
	}
	good := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: testIssuer, Subject: "mallory", Audience: jwt.ClaimStrings{testService},
			ExpiresAt: jwt.NewNumericDate(fuzzNow.Add(time.Minute)), NotBefore: jwt.NewNumericDate(fuzzNow),
			IssuedAt: jwt.NewNumericDate(fuzzNow),
		},
		Access: []Access{{Type: "repository", Name: "localhost:4443/prod/app", Actions: []string{"*"}}},
	}
	with := func(change func(*Claims)) Claims {
		c := good
		change(&c)
		return c
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&iss.key.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	for _, tok := range []string{
		signed(f, jwt.SigningMethodES256, good, iss.key, ""),
		signed(f, jwt.SigningMethodES256, good, iss.key, iss.KeyID()),
		signed(f, jwt.SigningMethodES256, good, other.key, iss.KeyID()),
		signed(f, jwt.SigningMethodES256, good, iss.key, other.KeyID()),
		signed(f, jwt.SigningMethodNone, good, jwt.UnsafeAllowNoneSignatureType, iss.KeyID()),
		signed(f, jwt.SigningMethodHS256, good, pubDER, iss.KeyID()),
		signed(f, jwt.SigningMethodES256, with(func(c *Claims) { c.Audience = jwt.ClaimStrings{"registry", testService} }), iss.key, ""),
		signed(f, jwt.SigningMethodES256, with(func(c *Claims) { c.Audience = jwt.ClaimStrings{"registry"} }), iss.key, ""),
		signed(f, jwt.SigningMethodES256, with(func(c *Claims) { c.Issuer = "someone" }), iss.key, ""),
		signed(f, jwt.SigningMethodES256, with(func(c *Claims) { c.ExpiresAt = nil }), iss.key, ""),
		signed(f, jwt.SigningMethodES256, with(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(fuzzNow.Add(-time.Minute)) }), iss.key, ""),
		signed(f, jwt.SigningMethodES256, with(func(c *Claims) { c.NotBefore = jwt.NewNumericDate(fuzzNow.Add(time.Hour)) }), iss.key, ""),
		"", "a.b.c", "eyJhbGciOiJFUzI1NiJ9.e30.",
	} {
		f.Add(tok)
	}

	f.Fuzz(func(t *testing.T, token string) {
		claims, err := iss.Verify(token)
		if err != nil {
			if claims != nil || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify(%q) = %+v, %v", token, claims, err)
			}
			return
		}
		// A verified token is three segments whose signature is an ES256
		// signature by the issuer's key over the first two, checked here
		// without the JWT library.
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			t.Fatalf("Verify accepted %q: %d segments", token, len(parts))
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err != nil || len(sig) != 64 ||
			!ecdsa.Verify(&iss.key.PublicKey, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			t.Fatalf("Verify accepted %q, whose signature is not the issuer's", token)
		}
		var header map[string]any
		if b, err := base64.RawURLEncoding.DecodeString(parts[0]); err != nil || json.Unmarshal(b, &header) != nil ||
			header["alg"] != "ES256" || (header["kid"] != nil && header["kid"] != iss.KeyID()) {
			t.Fatalf("Verify accepted %q with header %v", token, header)
		}
		// The claims are those of the signed payload, and they hold now.
		var want Claims
		if b, err := base64.RawURLEncoding.DecodeString(parts[1]); err != nil || json.Unmarshal(b, &want) != nil {
			t.Fatalf("Verify accepted %q, whose payload does not decode", token)
		}
		if !reflect.DeepEqual(*claims, want) {
			t.Fatalf("Verify(%q) = %+v, but the payload says %+v", token, *claims, want)
		}
		if claims.Issuer != testIssuer || !slices.Contains(claims.Audience, testService) || claims.ExpiresAt == nil ||
			!fuzzNow.Before(claims.ExpiresAt.Add(Leeway)) ||
			(claims.NotBefore != nil && claims.NotBefore.After(fuzzNow.Add(Leeway))) ||
			(claims.IssuedAt != nil && claims.IssuedAt.After(fuzzNow.Add(Leeway))) {
			t.Fatalf("Verify accepted claims that do not hold: %+v", claims)
		}
	})
}

// FuzzIssueVerify issues a token for what a parsed scope asks and verifies
// it: the holder gets exactly that access, under the subject it was issued to.
func FuzzIssueVerify(f *testing.F) {
	iss := fuzzIssuer(f, "trustdeck fuzz issuer")
	f.Add("alice", "repository:localhost:4443/prod/nginx:pull,push")
	f.Add("", "repository:localhost:4443/prod/nginx:pull")
	f.Add("admin", "registry:catalog:* repository:localhost:4443/a/b:*")
	f.Add("bob\"}", "repository(plugin):a/b:pull")
	f.Add("élodie", "")
	f.Fuzz(func(t *testing.T, subject, scope string) {
		access, err := ParseScope(scope)
		if err != nil {
			return
		}
		tok, exp, iat, err := iss.Issue(subject, access)
		if err != nil {
			t.Fatalf("Issue(%q, %+v): %v", subject, access, err)
		}
		claims, err := iss.Verify(tok)
		if err != nil {
			t.Fatalf("Verify(Issue(%q, %q)): %v", subject, scope, err)
		}
		// JSON carries only valid UTF-8: other subjects are not account names.
		if utf8.ValidString(subject) && claims.Subject != subject {
			t.Fatalf("subject %q came back as %q", subject, claims.Subject)
		}
		if !claims.ExpiresAt.Equal(exp) || !claims.IssuedAt.Equal(iat) {
			t.Fatalf("times %v, %v came back as %v, %v", exp, iat, claims.ExpiresAt, claims.IssuedAt)
		}
		if len(claims.Access) != len(access) || (len(access) > 0 && !reflect.DeepEqual(claims.Access, access)) {
			t.Fatalf("access %+v came back as %+v", access, claims.Access)
		}
		for _, a := range access {
			for _, act := range a.Actions {
				if !claims.Allows(a.Type, a.Name, act) {
					t.Fatalf("the token for %q does not allow %s on %s:%s", scope, act, a.Type, a.Name)
				}
			}
			if claims.Allows(a.Type, a.Name+"x", "pull") && !slices.ContainsFunc(access, func(b Access) bool { return b.Name == a.Name+"x" }) {
				t.Fatalf("the token for %q allows %sx", scope, a.Name)
			}
		}
	})
}
