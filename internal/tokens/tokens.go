// Package tokens issues and verifies the bearer tokens of the Docker registry
// token authentication scheme ("Docker Registry v2 authentication via central
// service"), which docker and notary clients use against trustdeck's Notary
// API: a JWT signed with ES256 whose "access" claim lists what the holder may
// do, for example {"type":"repository","name":"localhost:4443/prod/nginx",
// "actions":["pull","push"]}.
//
// It also parses the scope parameter clients send to the token endpoint and
// builds the WWW-Authenticate challenge that tells them where to get a token.
package tokens

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustdeck/trustdeck/internal/lru"
)

const (
	// DefaultTTL is the lifetime of a token when NewIssuer is given none.
	DefaultTTL = 5 * time.Minute
	// Leeway is the clock tolerance Verify allows on exp, nbf and iat.
	Leeway = 10 * time.Second
	// maxTokenLen bounds the input Verify is willing to parse.
	maxTokenLen = 64 << 10
)

// Access is one entry of a token's access claim: the actions granted on one
// resource. The scope "repository:host:4443/a/b:pull,push" is
// Access{Type: "repository", Name: "host:4443/a/b", Actions: ["pull", "push"]}.
type Access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Claims are the claims of a registry token.
type Claims struct {
	jwt.RegisteredClaims
	Access []Access `json:"access"`
}

// MarshalJSON writes the claims with a single audience as a plain string, as
// the token specification shows it and as docker/distribution (whose "aud" is
// a string) expects; several audiences are written as an array. Access is
// never null.
func (c Claims) MarshalJSON() ([]byte, error) {
	var aud any
	switch len(c.Audience) {
	case 0:
	case 1:
		aud = c.Audience[0]
	default:
		aud = []string(c.Audience)
	}
	access := make([]Access, len(c.Access))
	for i, a := range c.Access {
		if a.Actions == nil {
			a.Actions = []string{}
		}
		access[i] = a
	}
	// The outer "aud" field hides the one of the embedded RegisteredClaims
	// (which has no MarshalJSON of its own).
	return json.Marshal(struct {
		jwt.RegisteredClaims
		Audience any      `json:"aud,omitempty"`
		Access   []Access `json:"access"`
	}{c.RegisteredClaims, aud, access})
}

// Allows reports whether the claims grant action on the resource typ/name.
// An action "*" in the token grants every action on that resource.
func (c *Claims) Allows(typ, name, action string) bool {
	if c == nil {
		return false
	}
	for _, a := range c.Access {
		if a.Type != typ || a.Name != name {
			continue
		}
		for _, act := range a.Actions {
			if act == action || act == "*" {
				return true
			}
		}
	}
	return false
}

// Issuer signs and verifies registry tokens with one ECDSA P-256 key.
type Issuer struct {
	key     *ecdsa.PrivateKey
	kid     string
	issuer  string
	service string
	ttl     time.Duration
	now     func() time.Time // time.Now; replaced in tests
	// verified remembers tokens that passed Verify until they expire, so
	// that a client's every request does not cost an ECDSA verification.
	verified *lru.Cache[string, verifiedToken]
}

// verifiedToken is a token Verify accepted: its claims, and when the same
// checks accept it (from nbf and iat, until exp, with Leeway).
type verifiedToken struct {
	claims      *Claims
	from, until time.Time
}

// VerifiedTokens bounds how many verified tokens an Issuer remembers.
const VerifiedTokens = 4096

// NewIssuer returns an Issuer that signs with key (which must be a P-256
// key: ES256), names itself issuer in the "iss" claim and addresses its
// tokens to service (the "aud" claim; the service parameter of the token
// request and of the challenge). A ttl of zero or less means DefaultTTL.
// It panics if key is nil or not on P-256, which is a programming error.
func NewIssuer(key *ecdsa.PrivateKey, issuer, service string, ttl time.Duration) *Issuer {
	if key == nil || key.Curve == nil || key.Curve.Params().Name != "P-256" {
		panic("tokens: NewIssuer needs an ECDSA P-256 key")
	}
	kid, err := KeyID(&key.PublicKey)
	if err != nil {
		panic("tokens: " + err.Error())
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Issuer{key: key, kid: kid, issuer: issuer, service: service, ttl: ttl, now: time.Now,
		verified: lru.New[string, verifiedToken](VerifiedTokens, nil)}
}

// Service is the audience of the issuer's tokens.
func (i *Issuer) Service() string { return i.service }

// TTL is the lifetime of the issuer's tokens.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// KeyID is the key ID ("kid" header) of the issuer's tokens.
func (i *Issuer) KeyID() string { return i.kid }

// Issue signs a token for subject (the user name; empty for anonymous
// access) granting access. The times returned are those written into the
// token (whole seconds): the token endpoint answers them as expires_in and
// issued_at.
func (i *Issuer) Issue(subject string, access []Access) (token string, expiresAt, issuedAt time.Time, err error) {
	issuedAt = i.now().Truncate(time.Second)
	expiresAt = issuedAt.Add(i.ttl)
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", time.Time{}, time.Time{}, fmt.Errorf("tokens: %w", err)
	}
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.issuer,
			Subject:   subject,
			Audience:  jwt.ClaimStrings{i.service},
			ExpiresAt: jwt.NewNumericDate(expiresAt),
			NotBefore: jwt.NewNumericDate(issuedAt),
			IssuedAt:  jwt.NewNumericDate(issuedAt),
			ID:        hex.EncodeToString(jti),
		},
		Access: access,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["kid"] = i.kid
	token, err = t.SignedString(i.key)
	if err != nil {
		return "", time.Time{}, time.Time{}, fmt.Errorf("tokens: sign: %w", err)
	}
	return token, expiresAt, issuedAt, nil
}

// ErrInvalid is wrapped by every error of Verify.
var ErrInvalid = errors.New("invalid token")

// Verify checks a token issued by this issuer and returns its claims: the
// algorithm must be ES256, the signature the issuer's key, "iss" the
// issuer, "aud" the service, and exp, nbf and iat must hold (with Leeway);
// exp is required. Errors wrap ErrInvalid. A token that passed is
// remembered until it expires (VerifiedTokens at most), and the same claims
// are returned for it: callers must not modify them.
func (i *Issuer) Verify(token string) (*Claims, error) {
	if len(token) > maxTokenLen {
		return nil, fmt.Errorf("%w: too long", ErrInvalid)
	}
	if v, ok := i.verified.Get(token); ok {
		if now := i.now(); !now.Before(v.from) && now.Before(v.until) {
			return v.claims, nil
		}
	}
	claims, err := i.verify(token)
	if err != nil {
		return nil, err
	}
	v := verifiedToken{claims: claims, until: claims.ExpiresAt.Add(Leeway)}
	for _, t := range []*jwt.NumericDate{claims.NotBefore, claims.IssuedAt} {
		if t != nil && t.Add(-Leeway).After(v.from) {
			v.from = t.Add(-Leeway)
		}
	}
	i.verified.Put(token, v)
	return claims, nil
}

// verify runs every check of Verify.
func (i *Issuer) verify(token string) (*Claims, error) {
	claims := &Claims{}
	_, err := jwt.ParseWithClaims(token, claims,
		func(t *jwt.Token) (any, error) {
			if _, ok := t.Method.(*jwt.SigningMethodECDSA); !ok || t.Method.Alg() != jwt.SigningMethodES256.Alg() {
				return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
			}
			if kid, ok := t.Header["kid"]; ok && kid != i.kid {
				return nil, fmt.Errorf("unknown key %v", kid)
			}
			return &i.key.PublicKey, nil
		},
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithIssuer(i.issuer),
		jwt.WithAudience(i.service),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(i.now),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return claims, nil
}

// KeyID returns the key ID Docker's libtrust gives a public key, which the
// registry token format uses as "kid": the SHA-256 of the key's DER (PKIX)
// encoding, cut to its first 240 bits, in base32 (48 characters) written as
// 12 groups of 4 separated by colons.
func KeyID(pub *ecdsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encode public key: %w", err)
	}
	sum := sha256.Sum256(der)
	enc := base32.StdEncoding.EncodeToString(sum[:240/8]) // 30 bytes: 48 characters, no padding
	groups := make([]string, 0, len(enc)/4)
	for s := enc; s != ""; s = s[4:] {
		groups = append(groups, s[:4])
	}
	return strings.Join(groups, ":"), nil
}

// ParseScope parses the scope parameter of a token request: one or more
// space-separated scopes "type:name:action[,action...]". The name may itself
// contain colons (a registry host:port), so the type ends at the first colon
// and the actions begin after the last. A type may carry a class, as in
// "repository(plugin)"; it is kept verbatim in Access.Type, so it never
// matches a plain "repository" check. Actions are lower-case words or "*".
// Scopes naming the same type and name are merged; duplicate actions are
// dropped. A blank scope gives no access and no error.
func ParseScope(scope string) ([]Access, error) {
	var out []Access
	for _, s := range strings.Fields(scope) {
		first, last := strings.IndexByte(s, ':'), strings.LastIndexByte(s, ':')
		if first < 0 || first == last {
			return nil, fmt.Errorf("tokens: malformed scope %q: want type:name:actions", s)
		}
		typ, name, actions := s[:first], s[first+1:last], s[last+1:]
		if !validType(typ) {
			return nil, fmt.Errorf("tokens: malformed scope %q: bad resource type %q", s, typ)
		}
		if !validName(name) {
			return nil, fmt.Errorf("tokens: malformed scope %q: bad resource name %q", s, name)
		}
		if actions == "" {
			return nil, fmt.Errorf("tokens: malformed scope %q: no actions", s)
		}
		var acts []string
		for _, a := range strings.Split(actions, ",") {
			if !validAction(a) {
				return nil, fmt.Errorf("tokens: malformed scope %q: bad action %q", s, a)
			}
			acts = append(acts, a)
		}
		idx := slices.IndexFunc(out, func(a Access) bool { return a.Type == typ && a.Name == name })
		if idx < 0 {
			out = append(out, Access{Type: typ, Name: name})
			idx = len(out) - 1
		}
		for _, a := range acts {
			if !slices.Contains(out[idx].Actions, a) {
				out[idx].Actions = append(out[idx].Actions, a)
			}
		}
	}
	return out, nil
}

// validType accepts [a-z0-9]+ with an optional "(class)" of the same characters.
func validType(t string) bool {
	base, class, hasClass := strings.Cut(t, "(")
	if hasClass {
		var ok bool
		if class, ok = strings.CutSuffix(class, ")"); !ok || !lowerAlnum(class) {
			return false
		}
	}
	return lowerAlnum(base)
}

func lowerAlnum(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// validName accepts slash-separated non-empty components of letters, digits
// and . _ - (and the : [ ] of a host:port or an IPv6 address in the first).
// It is deliberately looser than the reference grammar: the name is only
// compared, never interpreted.
func validName(n string) bool {
	if n == "" || len(n) > 512 {
		return false
	}
	for i, comp := range strings.Split(n, "/") {
		if comp == "" {
			return false
		}
		for _, r := range comp {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			case i == 0 && (r == ':' || r == '[' || r == ']'):
			default:
				return false
			}
		}
	}
	return true
}

// validAction accepts [a-z]+ and "*".
func validAction(a string) bool {
	if a == "*" {
		return true
	}
	if a == "" {
		return false
	}
	for _, r := range a {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

// Challenge returns the WWW-Authenticate header value that sends a client to
// the token service: Bearer realm="…",service="…" and, when scopes are
// given, scope="…" with the non-empty ones separated by spaces.
func Challenge(realm, service string, scopes ...string) string {
	var b strings.Builder
	b.WriteString(`Bearer realm=`)
	b.WriteString(quote(realm))
	b.WriteString(`,service=`)
	b.WriteString(quote(service))
	var nonEmpty []string
	for _, s := range scopes {
		if s = strings.TrimSpace(s); s != "" {
			nonEmpty = append(nonEmpty, s)
		}
	}
	if len(nonEmpty) > 0 {
		b.WriteString(`,scope=`)
		b.WriteString(quote(strings.Join(nonEmpty, " ")))
	}
	return b.String()
}

// quote makes an RFC 7230 quoted-string: backslash and double quote are
// escaped; control characters, which a header cannot carry, are dropped.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 && r != '\t', r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
