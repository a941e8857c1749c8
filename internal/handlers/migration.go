package handlers

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/accounts"
	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/migration"
	"github.com/trustdeck/trustdeck/internal/names"
	"github.com/trustdeck/trustdeck/internal/resign"
	"github.com/trustdeck/trustdeck/internal/vault"
)

// The migration off Docker Content Trust (internal/migration): plans, runs
// and their progress, the namespaces' signing keys and verification
// exports. Plans and exports are for a namespace's members; runs and keys
// for its administrators (global administrators everywhere).

// mountMigration registers the migration's API routes.
func (s *Server) mountMigration(api *echo.Group) {
	api.GET("/repositories/:ns/:name/migration", s.apiMigrationPlan)
	api.GET("/namespaces/:ns/migration", s.apiNamespaceMigrationPlan)
	api.GET("/migration", s.apiAdministeredMigrationPlan)
	api.POST("/migrations", s.apiMigrationStart)
	api.GET("/migrations", s.apiMigrationList)
	api.GET("/migrations/:id", s.apiMigrationGet)
	api.GET("/namespaces/:ns/signing-keys", s.apiSigningKeyList)
	api.POST("/namespaces/:ns/signing-keys", s.apiSigningKeyCreate)
	api.DELETE("/namespaces/:ns/signing-keys/:format", s.apiSigningKeyDelete)
	api.GET("/namespaces/:ns/verification/:file", s.apiVerificationExport)
}

// namespaceRole checks the route's namespace and that the caller holds at
// least min in it: without read the answer is 404 (names do not leak),
// with less than min 403.
func (s *Server) namespaceRole(c echo.Context, min accounts.Role) (string, error) {
	ns := c.Param("ns")
	if err := names.Component("namespace", ns); err != nil {
		return "", err
	}
	return ns, s.requireIn(c, ns, min)
}

func (s *Server) requireIn(c echo.Context, ns string, min accounts.Role) error {
	role, err := s.Accounts.RoleIn(c.Request().Context(), currentUser(c), ns)
	if err != nil {
		return err
	}
	if role < accounts.RoleRead {
		return errs.NotFoundf("namespace_not_found", "There is no namespace %s you can see.", ns)
	}
	if role < min {
		return errs.Forbiddenf("forbidden", "You need the %s role on namespace %q for this.", min, ns)
	}
	return nil
}

// planJSON is a repository's plan with its counts.
type planJSON struct {
	*migration.RepositoryPlan
	Counts migration.Counts `json:"counts"`
}

// apiMigrationPlan is GET /api/v1/repositories/{ns}/{name}/migration.
func (s *Server) apiMigrationPlan(c echo.Context) error {
	r, _, err := s.repoForRead(c)
	if err != nil {
		return err
	}
	p, err := s.Migration.PlanRepository(c.Request().Context(), r.Namespace, r.Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, planJSON{RepositoryPlan: p, Counts: p.Counts()})
}

// plansJSON is the plan of several repositories with their totals.
type plansJSON struct {
	Repositories []planJSON       `json:"repositories"`
	Counts       migration.Counts `json:"counts"`
}

func (s *Server) plans(c echo.Context, namespaces []string) error {
	ps, err := s.Migration.PlanNamespaces(c.Request().Context(), namespaces)
	if err != nil {
		return err
	}
	out := plansJSON{Repositories: []planJSON{}}
	for i := range ps {
		n := ps[i].Counts()
		out.Repositories = append(out.Repositories, planJSON{RepositoryPlan: &ps[i], Counts: n})
		out.Counts.Sign, out.Counts.Skip, out.Counts.Unsigned = out.Counts.Sign+n.Sign, out.Counts.Skip+n.Skip,
			out.Counts.Unsigned+n.Unsigned
	}
	return c.JSON(http.StatusOK, out)
}

// apiNamespaceMigrationPlan is GET /api/v1/namespaces/{ns}/migration: the
// plan of every repository of the namespace.
func (s *Server) apiNamespaceMigrationPlan(c echo.Context) error {
	ns, err := s.namespaceRole(c, accounts.RoleRead)
	if err != nil {
		return err
	}
	return s.plans(c, []string{ns})
}

// migrationNamespaces are the namespaces the caller migrates (nil: every
// one, for a global administrator); those who administer nothing are refused.
func (s *Server) migrationNamespaces(c echo.Context) ([]string, error) {
	ok, nss, err := s.canCreateSomewhere(c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errs.Forbiddenf("forbidden", "Only global administrators and namespace administrators migrate repositories.")
	}
	return nss, nil
}

// apiAdministeredMigrationPlan is GET /api/v1/migration: the plan of every
// repository the caller administers.
func (s *Server) apiAdministeredMigrationPlan(c echo.Context) error {
	nss, err := s.migrationNamespaces(c)
	if err != nil {
		return err
	}
	return s.plans(c, nss)
}

// apiMigrationStart is POST /api/v1/migrations: 202 with the run (its id),
// started or, for an interrupted run of the same repositories and formats,
// resumed. Every repository's namespace must be the caller's to administer.
func (s *Server) apiMigrationStart(c echo.Context) error {
	var in struct {
		Repositories []string `json:"repositories"`
		Formats      []string `json:"formats"`
		Passphrase   string   `json:"passphrase"`
		// Passphrases of keys with their own, by key ID.
		Passphrases map[string]string `json:"passphrases"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	run, resumed, err := s.startMigration(c, in.Repositories, in.Formats, in.Passphrase, in.Passphrases)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/migrations/"+run.ID)
	return c.JSON(http.StatusAccepted, struct {
		*migration.Run
		Resumed bool `json:"resumed"`
	}{run, resumed})
}

// startMigration starts (or resumes) a run of repos in formats once the
// caller administers every repository's namespace (404 for one it cannot
// see); wrong passphrases count against the caller like the vault's.
func (s *Server) startMigration(c echo.Context, repos, formats []string, passphrase string, perKey map[string]string) (*migration.Run, bool, error) {
	for _, repo := range repos {
		ns, _, err := migration.ParseRepository(repo)
		if err != nil {
			return nil, false, err
		}
		if err := s.requireIn(c, ns, accounts.RoleAdmin); err != nil {
			if e, ok := errs.As(err); ok && e.Kind == errs.NotFound {
				return nil, false, errs.NotFoundf("repository_not_found", "There is no repository %s you can see.", repo)
			}
			return nil, false, err
		}
	}
	u := currentUser(c)
	var (
		run     *migration.Run
		resumed bool
	)
	err := s.Accounts.GuardKeyPassphrase(u, "wrong_passphrase", func() (err error) {
		run, resumed, err = s.Migration.Start(c.Request().Context(), migration.StartRequest{Actor: u.Username,
			Repositories: repos, Formats: formats, Passphrase: passphrase, Passphrases: perKey})
		return err
	})
	return run, resumed, err
}

// watchable keeps the runs whose every namespace the caller administers,
// looking the caller's namespaces up once for all of them.
func (s *Server) watchable(c echo.Context, runs []migration.Run) ([]migration.Run, error) {
	admin, err := s.Accounts.AdminNamespaces(c.Request().Context(), currentUser(c))
	if err != nil {
		return nil, err
	}
	return watchableIn(admin, runs), nil
}

// watchableIn keeps the runs whose every namespace is in admin (the
// caller's administered namespaces; nil for a global administrator).
func watchableIn(admin []string, runs []migration.Run) []migration.Run {
	out := []migration.Run{}
	for _, run := range runs {
		if admin == nil || !slices.ContainsFunc(run.Namespaces, func(ns string) bool { return !slices.Contains(admin, ns) }) {
			out = append(out, run)
		}
	}
	return out
}

// runForWatch is the route's run with its items, for a caller who
// administers every namespace of it (404 otherwise).
func (s *Server) runForWatch(c echo.Context) (*migration.Run, error) {
	run, err := s.Migration.Get(c.Request().Context(), c.Param("id"), true)
	if err != nil {
		return nil, err
	}
	ok, err := s.watchable(c, []migration.Run{*run})
	if err != nil {
		return nil, err
	}
	if len(ok) == 0 {
		return nil, errs.NotFoundf("migration_not_found", "There is no migration run %s you administer.", c.Param("id"))
	}
	return run, nil
}

// apiMigrationGet is GET /api/v1/migrations/{id}: the run, its progress and
// items (404 for a run the caller does not administer every namespace of).
func (s *Server) apiMigrationGet(c echo.Context) error {
	run, err := s.runForWatch(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, run)
}

// apiMigrationList is GET /api/v1/migrations: the newest runs the caller
// administers, without their items.
func (s *Server) apiMigrationList(c echo.Context) error {
	if err := s.requireKeyAdmin(c); err != nil {
		return err
	}
	runs, err := s.Migration.List(c.Request().Context(), 200)
	if err != nil {
		return err
	}
	out, err := s.watchable(c, runs)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"migrations": out})
}

// apiSigningKeyList is GET /api/v1/namespaces/{ns}/signing-keys: the
// namespace's cosign and Notation keys (public parts only).
func (s *Server) apiSigningKeyList(c echo.Context) error {
	ns, err := s.namespaceRole(c, accounts.RoleRead)
	if err != nil {
		return err
	}
	keys, err := s.SigningKeys.List(c.Request().Context(), ns)
	if err != nil {
		return err
	}
	if keys == nil {
		keys = []vault.SigningKeyInfo{}
	}
	return c.JSON(http.StatusOK, map[string]any{"keys": keys})
}

// signingKeyInput asks for a namespace's key of a format: generated,
// (cosign) an existing signer's key of the vault, or (Notation) the admin's
// own certificate chain and key.
type signingKeyInput struct {
	Format       string `json:"format"`
	Passphrase   string `json:"passphrase"`
	VaultKeyID   string `json:"vault_key_id"`
	Organization string `json:"organization"`
	State        string `json:"state"`
	Country      string `json:"country"`
	// CertificateChain (the signing certificate and its CAs, PEM), Root
	// (PEM, when the chain leaves it out) and PrivateKey (the signing
	// certificate's, PEM) import a Notation identity.
	CertificateChain string `json:"certificate_chain"`
	Root             string `json:"root"`
	PrivateKey       string `json:"private_key"`
}

// apiSigningKeyCreate is POST /api/v1/namespaces/{ns}/signing-keys: it
// generates the namespace's key of a format, encrypted with passphrase,
// (cosign, vault_key_id) makes a DCT signer's key of the vault its cosign
// key (passphrase is then that key's), or (notation, certificate_chain and
// private_key) imports the admin's own Notation identity.
func (s *Server) apiSigningKeyCreate(c echo.Context) error {
	ns, err := s.namespaceRole(c, accounts.RoleAdmin)
	if err != nil {
		return err
	}
	var in signingKeyInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	keys, err := s.createSigningKey(c, ns, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"keys": keys})
}

// createSigningKey makes the key in asks for and audits it: the API and the
// form share it.
func (s *Server) createSigningKey(c echo.Context, ns string, in signingKeyInput) ([]vault.SigningKeyInfo, error) {
	ctx, u := c.Request().Context(), currentUser(c)
	importing := in.CertificateChain != "" || in.PrivateKey != "" || in.Root != ""
	var keys []vault.SigningKeyInfo
	switch {
	case in.Format == resign.FormatCosign && importing:
		return nil, errs.Invalidf("invalid_key_source",
			"certificate_chain and private_key import a Notation identity: a cosign key is generated or an existing signer's (vault_key_id).")
	case in.Format == resign.FormatCosign && in.VaultKeyID != "":
		k, err := s.Vault.Get(ctx, in.VaultKeyID)
		if err != nil {
			return nil, err
		}
		if !s.mayManageKey(ctx, u, *k) {
			return nil, errs.NotFoundf("key_not_found", "There is no key %s you administer.", in.VaultKeyID)
		}
		var info *vault.SigningKeyInfo
		err = s.Accounts.GuardKeyPassphrase(u, "wrong_passphrase", func() (err error) {
			info, err = s.SigningKeys.UseVaultKeyForCosign(ctx, ns, in.VaultKeyID, in.Passphrase, u.Username)
			return err
		})
		if err != nil {
			return nil, err
		}
		keys = []vault.SigningKeyInfo{*info}
	case in.Format == resign.FormatCosign:
		info, err := s.SigningKeys.GenerateCosign(ctx, ns, in.Passphrase, u.Username)
		if err != nil {
			return nil, err
		}
		keys = []vault.SigningKeyInfo{*info}
	case in.Format == resign.FormatNotation && in.VaultKeyID != "":
		return nil, errs.Invalidf("invalid_key_source",
			"Notation keys are generated with the namespace's CA or imported (certificate_chain, private_key): vault_key_id is for cosign only.")
	case in.Format == resign.FormatNotation && importing:
		if in.CertificateChain == "" || in.PrivateKey == "" {
			return nil, errs.Invalidf("incomplete_import",
				"Importing a Notation identity takes the certificate chain and the signing certificate's private key (PEM), both.")
		}
		all, err := s.SigningKeys.ImportNotation(ctx, ns, vault.NotationImport{Chain: []byte(in.CertificateChain),
			Root: []byte(in.Root), PrivateKey: []byte(in.PrivateKey), Passphrase: in.Passphrase}, u.Username)
		if err != nil {
			return nil, err
		}
		keys = notationKeys(all)
	case in.Format == resign.FormatNotation:
		all, err := s.SigningKeys.GenerateNotation(ctx, ns, s.Catalog.RegistryHost(), in.Passphrase, u.Username,
			vault.NotationNames{Organization: in.Organization, State: in.State, Country: in.Country})
		if err != nil {
			return nil, err
		}
		keys = notationKeys(all)
	default:
		return nil, errs.Invalidf("invalid_format", "Unknown format %q: choose cosign or notation.", in.Format)
	}
	how := "generated"
	switch {
	case in.VaultKeyID != "":
		how = "the signer's vault key " + in.VaultKeyID
	case importing:
		how = "imported"
	}
	for _, k := range keys {
		detail := k.Format + " " + k.Role + " key " + k.KeyID + " (" + how + ")"
		if k.Subject != "" {
			detail += ", certificate " + k.Subject
		}
		s.Audit.Record(ctx, audit.Event{Actor: u.Username, Action: audit.SigningKeyCreate, Namespace: ns, Detail: detail})
	}
	return keys, nil
}

func notationKeys(all []vault.SigningKeyInfo) []vault.SigningKeyInfo {
	var out []vault.SigningKeyInfo
	for _, k := range all {
		if k.Format == resign.FormatNotation {
			out = append(out, k)
		}
	}
	return out
}

// apiSigningKeyDelete is DELETE /api/v1/namespaces/{ns}/signing-keys/{format}.
func (s *Server) apiSigningKeyDelete(c echo.Context) error {
	ns, err := s.namespaceRole(c, accounts.RoleAdmin)
	if err != nil {
		return err
	}
	format := c.Param("format")
	if format != resign.FormatCosign && format != resign.FormatNotation {
		return errs.NotFoundf("no_signing_key", "Namespace %s has no %q key: formats are cosign and notation.", ns, format)
	}
	ctx := c.Request().Context()
	if err := s.SigningKeys.Delete(ctx, ns, format); err != nil {
		return err
	}
	s.Audit.Record(ctx, audit.Event{Actor: currentUser(c).Username, Action: audit.SigningKeyDelete, Namespace: ns,
		Detail: format + " keys"})
	return c.NoContent(http.StatusNoContent)
}

// exportTypes are the media types of the verification exports.
var exportTypes = map[string]string{
	migration.ExportCosignPub:   "application/x-pem-file",
	migration.ExportTrustStore:  "application/x-pem-file",
	migration.ExportTrustPolicy: echo.MIMEApplicationJSON,
	migration.ExportKyverno:     "application/yaml",
}

// apiVerificationExport is GET /api/v1/namespaces/{ns}/verification/{file}:
// cosign.pub, notation-truststore.pem, trustpolicy.json or kyverno.yaml, as
// a download. Public material: the namespace's members may read it.
func (s *Server) apiVerificationExport(c echo.Context) error {
	ns, err := s.namespaceRole(c, accounts.RoleRead)
	if err != nil {
		return err
	}
	file := c.Param("file")
	if !slices.Contains(migration.Exports, file) {
		return errs.NotFoundf("no_such_export", "There is no export %q: there are %v.", file, migration.Exports)
	}
	b, err := s.Migration.Export(c.Request().Context(), ns, file)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+file+`"`)
	return c.Blob(http.StatusOK, exportTypes[file], b)
}
