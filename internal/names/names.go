// Package names holds the naming rules trustdeck enforces on input: docker's
// reference rules for repository path components, and account names.
package names

import (
	"regexp"

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
