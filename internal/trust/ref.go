package trust

import (
	"regexp"
	"strings"

	"github.com/trustdeck/trustdeck/internal/errs"
)

// The grammar of docker image references (distribution/reference, as docker
// 28 uses it):
//
//	reference := name [":" tag] ["@" digest]
//	name      := [domain "/"] path
//	domain    := (domain-name | "[" ipv6 "]") [":" port]
//	path      := component ("/" component)*
//	component := [a-z0-9]+ (separator [a-z0-9]+)*   separator: "." "_" "__" or dashes
//	tag       := [\w][\w.-]{0,127}
const (
	refComponent  = `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
	refPath       = refComponent + `(?:/` + refComponent + `)*`
	refDomainPart = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
	refDomain     = `(?:` + refDomainPart + `(?:\.` + refDomainPart + `)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?`
	refTag        = `[\w][\w.-]{0,127}`
	refDigest     = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
)

var (
	referenceRE  = regexp.MustCompile(`^((?:` + refDomain + `/)?` + refPath + `)(?::(` + refTag + `))?(?:@(` + refDigest + `))?$`)
	identifierRE = regexp.MustCompile(`^[a-f0-9]{64}$`)
	hexRE        = regexp.MustCompile(`^[a-f0-9]+$`)
)

// MaxPathLength is docker's limit on the path of a repository name (the name
// without its domain).
const MaxPathLength = 255

// digestLengths are the hex lengths of the digest algorithms docker knows.
var digestLengths = map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}

// ParseRef splits an image reference as docker does for `docker trust
// inspect`: gun is the normalized repository name (a name without a domain
// is on docker.io, and a single component there is in library/); tag is the
// tag, or "" when there is none or the reference has a digest. A colon
// before the first slash belongs to the domain's port, not to a tag.
//
// Errors are *errs.Error of kind Invalid whose message is docker's.
func ParseRef(ref string) (gun, tag string, err error) {
	invalid := func(format string, args ...any) (string, string, error) {
		return "", "", errs.Invalidf("invalid_reference", format, args...)
	}
	if identifierRE.MatchString(ref) {
		return invalid("invalid repository name (%s), cannot specify 64-byte hexadecimal strings", ref)
	}
	domain, rest := splitDomain(ref)
	remote := rest
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		remote = rest[:i]
	}
	if strings.ToLower(remote) != remote {
		return invalid("invalid reference format: repository name (%s) must be lowercase", remote)
	}
	full := domain + "/" + rest
	m := referenceRE.FindStringSubmatch(full)
	if m == nil {
		if lower := strings.ToLower(full); lower != full && referenceRE.MatchString(lower) {
			return invalid("repository name must be lowercase")
		}
		return invalid("invalid reference format")
	}
	name, tag, digest := m[1], m[2], m[3]
	if len(name)-len(domain)-1 > MaxPathLength {
		return invalid("repository name must not be more than %d characters", MaxPathLength)
	}
	if digest != "" {
		if msg := checkDigest(digest); msg != "" {
			return invalid("%s", msg)
		}
		tag = ""
	}
	return name, tag, nil
}

// splitDomain separates the registry domain from the rest of a reference,
// with docker's defaults: the first component is a domain if it contains a
// dot or a colon, is "localhost", or has uppercase letters; otherwise the
// domain is docker.io, where a lone name lives in library/.
func splitDomain(ref string) (domain, rest string) {
	first, after, found := strings.Cut(ref, "/")
	switch {
	case !found:
		return "docker.io", "library/" + ref
	case first == "localhost", strings.ContainsAny(first, ".:"), strings.ToLower(first) != first:
		domain, rest = first, after
	default:
		domain, rest = "docker.io", ref
	}
	if domain == "index.docker.io" {
		domain = "docker.io"
	}
	if domain == "docker.io" && !strings.Contains(rest, "/") {
		rest = "library/" + rest
	}
	return domain, rest
}

// checkDigest validates a digest as go-digest does ("" if valid).
func checkDigest(d string) string {
	alg, hex, _ := strings.Cut(d, ":")
	n, ok := digestLengths[alg]
	switch {
	case !ok:
		return "unsupported digest algorithm"
	case len(hex) != n:
		return "invalid checksum digest length"
	case !hexRE.MatchString(hex):
		return "invalid checksum digest format"
	}
	return ""
}
