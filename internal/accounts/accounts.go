// Package accounts is the service for users, namespace roles, login and
// server-side sessions. It decides who may do what; handlers ask it.
package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/names"
	"github.com/trustdeck/trustdeck/internal/store"
)

// Role is a user's right on a namespace, ordered: each includes the ones before.
type Role int

const (
	RoleNone Role = iota
	RoleRead
	RoleWrite
	RoleAdmin
)

func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleWrite:
		return "write"
	case RoleAdmin:
		return "admin"
	}
	return ""
}

// ParseRole parses "read", "write" or "admin".
func ParseRole(s string) (Role, error) {
	switch s {
	case "read":
		return RoleRead, nil
	case "write":
		return RoleWrite, nil
	case "admin":
		return RoleAdmin, nil
	}
	return RoleNone, errs.Invalidf("invalid_role", "Unknown role %q: use read, write or admin.", s)
}

// User is an authenticated account.
type User struct {
	ID       int64
	Username string
	IsAdmin  bool
	// PasswordGenerated: as read with the user (PasswordGenerated reads
	// it afresh).
	PasswordGenerated bool
}

// SessionTTL is how long a login lasts.
const SessionTTL = 12 * time.Hour

// Service implements accounts on the store.
type Service struct {
	st       *store.Store
	logins   *loginLimiter
	verified *verifiedCache
	hashing  hashFlights // checks of one name and password in progress
	revoked  *revocations
	// keyPass throttles wrong key passphrases per account: the vault
	// tells whether a passphrase is right, so guessing must be slow.
	keyPass *throttle
}

// New returns the accounts service.
func New(st *store.Store) *Service {
	return &Service{
		st:       st,
		logins:   newLoginLimiter(st),
		verified: newVerifiedCache(),
		revoked:  newRevocations(),
		keyPass:  newThrottle(10, 15*time.Minute),
	}
}

// EnsureAdmin creates the first account, "admin", when there are no users.
// It uses password when given, else a random one it logs once.
func (s *Service) EnsureAdmin(ctx context.Context, password string, log *slog.Logger) error {
	n, err := s.st.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	generated := password == ""
	if generated {
		b := make([]byte, 18)
		rand.Read(b)
		password = base64.RawURLEncoding.EncodeToString(b)
	} else if err := checkNewPassword("admin", password); err != nil {
		// The first administrator's password meets the rules every other
		// password meets; the server does not start with a weak one.
		return fmt.Errorf("TRUSTDECK_ADMIN_PASSWORD: %w", err)
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	u, err := s.st.CreateUser(ctx, "admin", hash, true)
	if err != nil {
		return fmt.Errorf("create first admin: %w", err)
	}
	if generated {
		if err := s.st.MarkPasswordGenerated(ctx, u.ID); err != nil {
			return fmt.Errorf("create first admin: %w", err)
		}
		// Printed once, on the very first start; it is never stored in clear.
		log.Warn("created the first administrator: log in as admin with this password and change it (My keys → Change your password)",
			"username", "admin", "password", password)
	} else {
		log.Info("created the first administrator from TRUSTDECK_ADMIN_PASSWORD", "username", "admin")
	}
	return nil
}

// PasswordGenerated reports whether u still signs in with the password
// trustdeck generated on its first start: pages remind them to change it.
func (s *Service) PasswordGenerated(ctx context.Context, u *User) (bool, error) {
	return s.st.PasswordGenerated(ctx, u.ID)
}

var errBadLogin = errs.Unauthenticatedf("invalid_credentials", "Invalid username or password.")

// Authenticate checks a username and password given from clientAddr.
//
// Guessing is slowed per (account, address) and per address (loginLimiter):
// the attempt is reserved before the password is hashed, so simultaneous
// guesses count as soon as they start. Hashes run in the process's hash
// slots (withHashSlot): when all are busy for too long the answer is an
// Unavailable error, whose RetryAfter says when to come back. A right
// password seen recently skips the hash (verifiedCache), never the limits.
// Names that cannot be accounts, empty passwords and passwords longer than
// MaxPasswordBytes fail at once: they cost no hash and count for nothing.
func (s *Service) Authenticate(ctx context.Context, username, password, clientAddr string) (*User, error) {
	if names.Username(username) != nil || password == "" || len(password) > MaxPasswordBytes {
		return nil, errBadLogin
	}
	lease, err := s.logins.reserve(ctx, username, clientAddr)
	if err != nil {
		return nil, err
	}
	u, err := s.checkPassword(ctx, username, password)
	switch {
	case err != nil:
		lease.release()
		return nil, err
	case u == nil:
		if err := lease.failed(ctx); err != nil {
			return nil, err
		}
		return nil, errBadLogin
	}
	if err := lease.succeeded(ctx); err != nil {
		return nil, err
	}
	if !u.DisabledAt.IsZero() {
		return nil, errDisabled
	}
	return toUser(u), nil
}

// errDisabled answers the right password of a disabled account.
var errDisabled = errs.Forbiddenf("account_disabled", "This account is disabled: ask an administrator to enable it.")

// checkPassword returns username's account when password is theirs, nil
// when it is not (or there is no such account, which takes as long).
func (s *Service) checkPassword(ctx context.Context, username, password string) (*store.User, error) {
	u, err := s.st.UserByName(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return nil, withHashSlot(ctx, func() { CheckPassword(dummyHash, password) })
	}
	if err != nil {
		return nil, err
	}
	key := s.verified.sum(username, password, u.PasswordHash)
	if s.verified.has(key, u.ID) {
		return u, nil
	}
	// Simultaneous checks of the same name and password (a CI runner's
	// jobs asking for tokens at once) wait for one hash instead of each
	// queueing for a slot of its own.
	ok, err := s.hashing.do(ctx, key, func() (bool, error) {
		ok := false
		err := withHashSlot(ctx, func() { ok = CheckPassword(u.PasswordHash, password) })
		return ok, err
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nil
	}
	s.verified.add(key, u.ID)
	return u, nil
}

// TokensValidFrom returns the earliest issue time of username's registry
// tokens that still hold their rights: a role or password change voids the
// tokens issued before it. Zero means all of them.
func (s *Service) TokensValidFrom(username string) time.Time {
	return s.revoked.validFrom(username)
}

// userChanged is called when what a user may do or how they sign in
// changed: their remembered passwords are dropped and their registry tokens
// voided. Disabling or deleting an account must call it too. (The store
// logged the change for the other replicas sharing the database in the
// change's transaction: they void the user's tokens too, see
// UserChangedElsewhere.)
func (s *Service) userChanged(u *User) {
	s.verified.forgetUser(u.ID)
	s.revoked.revoke(u.Username)
}

// UserChangedElsewhere voids username's registry tokens issued until now:
// another replica changed what the user may do or disabled them. (Its
// remembered passwords need no forgetting: a new password changes the
// stored hash they are keyed by, and a disabled account is refused after
// the check.)
func (s *Service) UserChangedElsewhere(username string) {
	s.revoked.revoke(username)
}

// UsersChangedElsewhere voids every registry token issued until now: this
// replica cannot tell which accounts other replicas changed.
func (s *Service) UsersChangedElsewhere() {
	s.revoked.revokeAll()
}

func toUser(u *store.User) *User {
	return &User{ID: u.ID, Username: u.Username, IsAdmin: u.IsAdmin, PasswordGenerated: u.PasswordGenerated}
}

// CreateUser adds an account (only global admins may; the caller checks).
func (s *Service) CreateUser(ctx context.Context, username, password string, admin bool) (*User, error) {
	if err := names.Username(username); err != nil {
		return nil, err
	}
	if err := checkNewPassword(username, password); err != nil {
		return nil, err
	}
	hash, err := hashNewPassword(ctx, password)
	if err != nil {
		return nil, err
	}
	u, err := s.st.CreateUser(ctx, username, hash, admin)
	if errors.Is(err, store.ErrConflict) {
		return nil, errs.Conflictf("user_exists", "A user named %q already exists.", username)
	}
	if err != nil {
		return nil, err
	}
	return toUser(u), nil
}

// UserByName finds an account.
func (s *Service) UserByName(ctx context.Context, username string) (*User, error) {
	u, err := s.st.UserByName(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errs.NotFoundf("user_not_found", "There is no user named %q.", username)
	}
	if err != nil {
		return nil, err
	}
	return toUser(u), nil
}

// UserSummary is a user with their namespace roles, for the admin page.
type UserSummary struct {
	User
	CreatedAt  time.Time
	DisabledAt time.Time         // zero: enabled
	Roles      map[string]string // namespace → role
}

// ListUsers returns every user with their roles.
func (s *Service) ListUsers(ctx context.Context) ([]UserSummary, error) {
	users, err := s.st.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	members, err := s.st.ListMembers(ctx)
	if err != nil {
		return nil, err
	}
	roles := map[int64]map[string]string{}
	for _, m := range members {
		if roles[m.UserID] == nil {
			roles[m.UserID] = map[string]string{}
		}
		roles[m.UserID][m.Namespace] = m.Role
	}
	out := make([]UserSummary, 0, len(users))
	for _, u := range users {
		out = append(out, UserSummary{User: *toUser(&u), CreatedAt: u.CreatedAt, DisabledAt: u.DisabledAt, Roles: roles[u.ID]})
	}
	return out, nil
}

// SetRole grants username the role in namespace (which may not hold any
// repository yet). The caller must be a global admin or an admin of namespace.
func (s *Service) SetRole(ctx context.Context, namespace, username, role string) error {
	if err := names.Component("namespace", namespace); err != nil {
		return err
	}
	r, err := ParseRole(role)
	if err != nil {
		return err
	}
	u, err := s.UserByName(ctx, username)
	if err != nil {
		return err
	}
	if err := s.st.SetMemberRole(ctx, namespace, u.ID, r.String()); err != nil {
		return err
	}
	s.userChanged(u)
	return nil
}

// RoleIn returns u's role in namespace; global admins hold admin everywhere.
func (s *Service) RoleIn(ctx context.Context, u *User, namespace string) (Role, error) {
	if u == nil {
		return RoleNone, nil
	}
	if u.IsAdmin {
		return RoleAdmin, nil
	}
	if namespace == names.Foreign {
		return RoleNone, nil // foreign repositories are for global administrators
	}
	r, err := s.st.MemberRole(ctx, namespace, u.ID)
	if err != nil || r == "" {
		return RoleNone, err
	}
	return ParseRole(r)
}

// Require returns a Forbidden error unless u holds at least min in namespace.
func (s *Service) Require(ctx context.Context, u *User, namespace string, min Role) error {
	r, err := s.RoleIn(ctx, u, namespace)
	if err != nil {
		return err
	}
	if r < min && namespace == names.Foreign {
		return errs.Forbiddenf("forbidden", "Only global administrators manage repositories outside the registry host.")
	}
	if r < min {
		return errs.Forbiddenf("forbidden", "You need the %s role on namespace %q for this.", min, namespace)
	}
	return nil
}

// VisibleNamespaces returns the namespaces u may read, or nil meaning all
// (global admins).
func (s *Service) VisibleNamespaces(ctx context.Context, u *User) ([]string, error) {
	if u.IsAdmin {
		return nil, nil
	}
	m, err := s.st.UserNamespaces(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(m))
	for ns := range m {
		out = append(out, ns)
	}
	return out, nil
}

// AdminNamespaces returns the namespaces where u is admin (nil = all).
func (s *Service) AdminNamespaces(ctx context.Context, u *User) ([]string, error) {
	if u.IsAdmin {
		return nil, nil
	}
	m, err := s.st.UserNamespaces(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for ns, r := range m {
		if r == "admin" {
			out = append(out, ns)
		}
	}
	return out, nil
}

// StartSession creates a server-side session and returns its secret token.
// Only the token's hash is stored, so a database copy cannot be replayed.
func (s *Service) StartSession(ctx context.Context, u *User) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	if err := s.st.CreateSession(ctx, hashToken(token), u.ID, time.Now().Add(SessionTTL)); err != nil {
		return "", err
	}
	return token, nil
}

// SessionUser resolves a session token; Unauthenticated when gone or expired.
func (s *Service) SessionUser(ctx context.Context, token string) (*User, error) {
	u, err := s.st.SessionUser(ctx, hashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errs.Unauthenticatedf("session_expired", "Your session has ended. Please sign in again.")
	}
	if err != nil {
		return nil, err
	}
	return toUser(u), nil
}

// EndSession revokes a session.
func (s *Service) EndSession(ctx context.Context, token string) error {
	return s.st.DeleteSession(ctx, hashToken(token))
}

func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// TokenActions are the registry-token actions a role grants on the
// repositories of a namespace, in the registry and on the Notary server
// alike: read pulls, write also pushes, admin also deletes (the registry's
// "delete" of manifests and tags; Notary's "*": deleting trust data and
// rotating server keys).
func (r Role) TokenActions() []string {
	switch r {
	case RoleRead:
		return []string{"pull"}
	case RoleWrite:
		return []string{"pull", "push"}
	case RoleAdmin:
		return []string{"pull", "push", "delete", "*"}
	}
	return nil
}

// GuardKeyPassphrase runs op, an operation that unlocks a private key with a
// passphrase u typed, unless u has had too many wrong passphrases lately;
// errors whose code is wrongCode count as failures.
func (s *Service) GuardKeyPassphrase(u *User, wrongCode string, op func() error) error {
	key := "k:" + u.Username
	if blocked, wait := s.keyPass.blocked(key); blocked {
		return errs.TooManyf("too_many_attempts",
			"Too many wrong key passphrases. Try again in %d minutes.", int(wait.Minutes())+1)
	}
	err := op()
	if e, ok := errs.As(err); ok && e.Code == wrongCode {
		s.keyPass.fail(key)
	}
	return err
}

// ChangePassword sets u's password after checking the current one. Every
// session of u ends; the caller starts a new one.
func (s *Service) ChangePassword(ctx context.Context, u *User, current, next, clientAddr string) error {
	if err := checkNewPassword(u.Username, next); err != nil {
		return err
	}
	if _, err := s.Authenticate(ctx, u.Username, current, clientAddr); err != nil {
		if errs.KindOf(err) == errs.Unauthenticated {
			return errs.Invalidf("wrong_password", "The current password is wrong.")
		}
		return err
	}
	return s.setPassword(ctx, u, next)
}

// setPassword stores u's new password: every session of u ends and their
// registry tokens are voided.
func (s *Service) setPassword(ctx context.Context, u *User, password string) error {
	if err := checkNewPassword(u.Username, password); err != nil {
		return err
	}
	hash, err := hashNewPassword(ctx, password)
	if err != nil {
		return err
	}
	if err := s.st.SetPasswordHash(ctx, u.ID, hash); err != nil {
		return err
	}
	s.userChanged(u)
	return nil
}

// userToManage is username's account, for by to change: never by's own (an
// administrator cannot lock themselves out; own says so). So an enabled
// global administrator always remains: the one making the change.
func (s *Service) userToManage(ctx context.Context, by *User, username, own string) (*store.User, error) {
	u, err := s.st.UserByName(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errs.NotFoundf("user_not_found", "There is no user named %q.", username)
	}
	if err != nil {
		return nil, err
	}
	if by != nil && u.ID == by.ID {
		return nil, errs.Invalidf("own_account", "%s", own)
	}
	return u, nil
}

// SetDisabled disables or enables username's account (global admins only;
// the caller checks). Disabling ends every session of the account, voids its
// registry tokens and forgets its remembered password checks: it can no
// longer sign in, use the API or log docker in, until it is enabled again.
func (s *Service) SetDisabled(ctx context.Context, by *User, username string, disabled bool) error {
	u, err := s.userToManage(ctx, by, username, "You cannot disable or enable your own account.")
	if err != nil {
		return err
	}
	if err := s.st.SetUserDisabled(ctx, u.ID, disabled); err != nil {
		return err
	}
	s.userChanged(toUser(u))
	return nil
}

// DeleteUser removes username's account with its roles, sessions and
// registered public keys (global admins only; the caller checks and audits:
// the audit keeps the name of everything the account did).
func (s *Service) DeleteUser(ctx context.Context, by *User, username string) error {
	u, err := s.userToManage(ctx, by, username, "You cannot delete your own account.")
	if err != nil {
		return err
	}
	if err := s.st.DeleteUser(ctx, u.ID); err != nil {
		return err
	}
	s.userChanged(toUser(u))
	return nil
}

// ResetPassword sets username's password without the current one (global
// admins only; the caller checks). Every session of the account ends and its
// registry tokens are voided.
func (s *Service) ResetPassword(ctx context.Context, by *User, username, password string) error {
	u, err := s.userToManage(ctx, by, username, "Change your own password on My keys: it asks for the current one.")
	if err != nil {
		return err
	}
	return s.setPassword(ctx, toUser(u), password)
}

// RemoveRole takes username's role in namespace away (the caller checks it
// administers namespace); their registry tokens are voided.
func (s *Service) RemoveRole(ctx context.Context, namespace, username string) error {
	if err := names.Component("namespace", namespace); err != nil {
		return err
	}
	u, err := s.UserByName(ctx, username)
	if err != nil {
		return err
	}
	err = s.st.DeleteMember(ctx, namespace, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return errs.NotFoundf("role_not_found", "%s has no role in %s.", username, namespace)
	}
	if err != nil {
		return err
	}
	s.userChanged(u)
	return nil
}
