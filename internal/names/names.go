// Package names holds the naming rules trustdeck enforces on input: docker's
// reference rules for repository path components, and account names.
package names

import (
	"regexp"
	"strings"

	"github.com/trustdeck/trustdeck/internal/errs"
)

// MaxRepositoryLength is docker's limit on a repository name.
const MaxRepositoryLength = 255

var (
	// A docker path component: lowercase alphanumerics separated by one
	// period, one or two underscores, or one or more dashes.
	componentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	usernameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
)

// Component validates one path component (a namespace or a repository name).
func Component(what, s string) error {
	switch {
	case s == "":
		return errs.Invalidf("invalid_name", "The %s is empty.", what)
	case len(s) > MaxRepositoryLength:
		return errs.Invalidf("invalid_name", "The %s is longer than %d characters.", what, MaxRepositoryLength)
	case !componentRE.MatchString(s):
		return errs.Invalidf("invalid_name",
			"The %s %q is not valid: use lowercase letters and digits, separated by '.', '_', '__' or '-', starting and ending with a letter or digit.",
			what, s)
	}
	return nil
}

// Repository validates namespace/name as a whole.
func Repository(namespace, name string) error {
	if err := Component("namespace", namespace); err != nil {
		return err
	}
	if err := Component("repository name", name); err != nil {
		return err
	}
	if len(namespace)+1+len(name) > MaxRepositoryLength {
		return errs.Invalidf("invalid_name", "The repository name %s/%s is longer than %d characters.",
			namespace, name, MaxRepositoryLength)
	}
	return nil
}

// Username validates an account name.
func Username(s string) error {
	if !usernameRE.MatchString(s) {
		return errs.Invalidf("invalid_username",
			"The username %q is not valid: 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit.", s)
	}
	return nil
}

// Foreign is the catalog namespace of repositories whose GUN is not
// <registry host>/<namespace>/<name>: GUNs under other registries or of
// another shape, found on an external Notary server. Their catalog name is
// the whole GUN. No account can be a member of it ("~" is not a valid
// namespace); only global administrators see these repositories.
const Foreign = "~"

var (
	domainRE = regexp.MustCompile(`^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?$`)
)

// GUN validates a GUN as docker writes them: a repository name with an
// optional registry host, "host[:port]/path/components", each path component
// as Component demands. It is the shape of every GUN docker can sign.
func GUN(gun string) error {
	bad := func(why string) error {
		return errs.Invalidf("invalid_gun", "The GUN %q is not a docker repository name: %s.", gun, why)
	}
	if gun == "" {
		return errs.Invalidf("invalid_gun", "The GUN is empty.")
	}
	if len(gun) > MaxRepositoryLength {
		return bad("longer than 255 characters")
	}
	parts := strings.Split(gun, "/")
	if HasHost(gun) {
		if !domainRE.MatchString(parts[0]) {
			return bad("the registry host is not host[:port]")
		}
		parts = parts[1:]
	}
	for _, p := range parts {
		if !componentRE.MatchString(p) {
			return bad("use lowercase letters and digits in each path component, separated by '.', '_', '__' or '-'")
		}
	}
	return nil
}

// HasHost reports whether a docker name starts with a registry host: by
// docker's rule, when it has more than one path component and the first
// contains '.' or ':' or is "localhost". Without one, the registry that
// serves the name is implied: a registry names its repositories so in its
// token scopes ("prod/nginx"), where a Notary GUN carries the host.
func HasHost(name string) bool {
	first, _, found := strings.Cut(name, "/")
	return found && (strings.ContainsAny(first, ".:") || first == "localhost")
}

// RepoPath is the page of a catalog repository: /repositories/<ns>/<name>.
// A foreign repository's name (its GUN) is written with '+' for '/', which
// no docker name contains, so that it stays one path segment.
func RepoPath(namespace, name string) string {
	if namespace == Foreign {
		name = strings.ReplaceAll(name, "/", "+")
	}
	return "/repositories/" + namespace + "/" + name
}

// NameFromPath reverses RepoPath for the name segment of a route.
func NameFromPath(namespace, segment string) string {
	if namespace == Foreign {
		return strings.ReplaceAll(segment, "+", "/")
	}
	return segment
}

// Display is how a repository is named to people: "namespace/name", or the
// whole GUN of a foreign repository.
func Display(namespace, name string) string {
	if namespace == Foreign {
		return name
	}
	return namespace + "/" + name
}
