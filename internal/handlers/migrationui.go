package handlers

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/accounts"
	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/migration"
	"github.com/trustdeck/trustdeck/internal/resign"
	"github.com/trustdeck/trustdeck/internal/trust"
	"github.com/trustdeck/trustdeck/internal/vault"
	"github.com/trustdeck/trustdeck/internal/views"
)

// The migration's pages: the plan of a repository and of everything the
// caller administers (with the namespaces' signing keys and exports), the
// form that runs it, and a run's progress. The API (migration.go) does the
// same for scripts.

// mountMigrationUI registers the migration's pages.
func (s *Server) mountMigrationUI(ui *echo.Group) {
	ui.GET("/migration", s.migrationOverview)
	ui.GET("/repositories/:ns/:name/migration", s.migrationRepositoryPage)
	ui.POST("/migrations", s.migrationStartForm)
	ui.GET("/migrations/:id", s.migrationRunPage)
	ui.POST("/namespaces/:ns/signing-keys", s.signingKeyForm)
}

// migrationRecentRuns is how many runs the overview lists.
const migrationRecentRuns = 20

// migrationOverview is GET /migration: the plan of every repository the
// caller administers, the run form, the namespaces' keys and exports, and
// recent runs.
func (s *Server) migrationOverview(c echo.Context) error {
	return s.renderOverview(c, http.StatusOK, "")
}

func (s *Server) renderOverview(c echo.Context, status int, formErr string) error {
	return s.renderOverviewErrors(c, status, formErr, "", views.KeyTyped{})
}

// renderOverviewErrors renders the overview with the run form's error or
// the signing keys' error (and what a refused import held).
func (s *Server) renderOverviewErrors(c echo.Context, status int, formErr, keyErr string, typed views.KeyTyped) error {
	nss, err := s.migrationNamespaces(c)
	if err != nil {
		return err
	}
	administered := nss // nil for a global administrator
	ctx := c.Request().Context()
	m := views.MigrationView{Scope: "all", FormError: formErr, KeyError: keyErr, KeyTyped: typed}
	plans, err := s.Migration.PlanNamespaces(ctx, nss)
	if err := s.planView(&m, plans, err); err != nil {
		return err
	}
	if nss == nil { // a global administrator: every namespace
		if nss, err = s.allNamespaces(c, plans); err != nil {
			return err
		}
	}
	candidates, err := s.cosignCandidates(c)
	if err != nil {
		return err
	}
	for _, ns := range nss {
		keys, err := s.SigningKeys.List(ctx, ns)
		if err != nil {
			return err
		}
		nk := views.NamespaceKeys{Namespace: ns, VaultKeys: candidates}
		for _, k := range keys {
			nk.Keys = append(nk.Keys, keyRow(k))
		}
		m.Namespaces = append(m.Namespaces, nk)
	}
	runs, err := s.Migration.List(ctx, migrationRecentRuns)
	if err != nil {
		return err
	}
	runs = watchableIn(administered, runs)
	for i := range runs {
		m.Runs = append(m.Runs, runView(&runs[i]))
	}
	return render(c, status, views.MigrationPage(s.page(c, "Migration", "migration"), m))
}

// allNamespaces are the namespaces of every repository: the plans' when
// there are plans, else the catalog's.
func (s *Server) allNamespaces(c echo.Context, plans []migration.RepositoryPlan) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	add := func(ns string) {
		if !seen[ns] {
			seen[ns] = true
			out = append(out, ns)
		}
	}
	for _, p := range plans {
		add(p.Namespace)
	}
	if len(plans) > 0 {
		return out, nil
	}
	for page := 1; ; page++ {
		p, err := s.Catalog.List(c.Request().Context(), catalog.ListQuery{Page: page})
		if err != nil {
			return nil, err
		}
		for _, r := range p.Repositories {
			add(r.Namespace)
		}
		if page >= p.Pages {
			return out, nil
		}
	}
}

// planView fills m with plans; a refusal of the plan (no registry) is the
// page's message, not an error page.
func (s *Server) planView(m *views.MigrationView, plans []migration.RepositoryPlan, err error) error {
	if err != nil {
		if errs.KindOf(err) == errs.Internal {
			return err
		}
		_, _, m.Error = classify(err)
		return nil
	}
	for _, p := range plans {
		n := p.Counts()
		r := views.MigrationRepo{Namespace: p.Namespace, Name: p.Name, Error: p.Error,
			Sign: n.Sign, Skip: n.Skip, UnsignedN: n.Unsigned}
		for _, t := range p.Tags {
			r.Tags = append(r.Tags, views.MigrationTag{Name: t.Name, Digest: t.Digest, RegistryDigest: t.RegistryDigest,
				Action: t.Action, Reason: t.Reason, Message: t.Message, Signers: t.Signers})
		}
		for _, u := range p.Unsigned {
			r.Unsigned = append(r.Unsigned, views.MigrationUnsigned{Name: u.Name, Digest: u.Digest})
		}
		for _, k := range p.Keys {
			r.Keys = append(r.Keys, views.MigrationKey{Format: k.Format, KeyID: k.KeyID, Algorithm: k.Algorithm,
				Identity: k.Identity, VaultKeyID: k.VaultKeyID})
		}
		m.Repos = append(m.Repos, r)
		m.Sign, m.Skip, m.Unsigned = m.Sign+n.Sign, m.Skip+n.Skip, m.Unsigned+n.Unsigned
	}
	return nil
}

func keyRow(k vault.SigningKeyInfo) views.MigrationKey {
	return views.MigrationKey{Format: k.Format, Role: k.Role, KeyID: k.KeyID, Algorithm: k.Algorithm,
		Identity: k.Subject, VaultKeyID: k.VaultKeyID}
}

// migrationRepositoryPage is GET /repositories/{ns}/{name}/migration: one
// repository's plan and the form that runs it (its namespace's admins).
func (s *Server) migrationRepositoryPage(c echo.Context) error {
	r, err := s.repoForAdmin(c)
	if err != nil {
		return err
	}
	return s.renderRepositoryPlan(c, r, http.StatusOK, "")
}

func (s *Server) renderRepositoryPlan(c echo.Context, r *catalog.Repository, status int, formErr string) error {
	m := views.MigrationView{Scope: "repository", Namespace: r.Namespace, Name: r.Name, FormError: formErr}
	p, err := s.Migration.PlanRepository(c.Request().Context(), r.Namespace, r.Name)
	var plans []migration.RepositoryPlan
	if p != nil {
		plans = []migration.RepositoryPlan{*p}
	}
	if err := s.planView(&m, plans, err); err != nil {
		return err
	}
	return render(c, status, views.MigrationPage(s.page(c, "Migration of "+r.FullName(), "repositories"), m))
}

// migrationStartForm is POST /migrations: it starts (or resumes) a run of
// the repositories ticked (none: every one the caller administers) in the
// formats ticked, and shows its progress. A refusal shows the form again
// with the message and the status.
func (s *Server) migrationStartForm(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return errs.Invalidf("invalid_form", "The form could not be read.")
	}
	repos, formats, passphrase := form["repository"], form["format"], form.Get("passphrase")
	// Where refusals are shown: the repository's page for one repository.
	again := func(status int, msg string) error { return s.renderOverview(c, status, msg) }
	if len(repos) == 1 {
		if ns, name, err := migration.ParseRepository(repos[0]); err == nil && s.requireIn(c, ns, accounts.RoleAdmin) == nil {
			if r, err := s.Catalog.Get(c.Request().Context(), ns, name); err == nil {
				again = func(status int, msg string) error { return s.renderRepositoryPlan(c, r, status, msg) }
			}
		}
	}
	nss, err := s.migrationNamespaces(c)
	if err != nil {
		return err
	}
	for _, f := range formats {
		if f != resign.FormatCosign && f != resign.FormatNotation {
			return errs.Invalidf("invalid_format", "Unknown format %q: choose cosign, notation or both.", f)
		}
	}
	if len(formats) == 0 {
		return again(http.StatusBadRequest, "Choose at least one format: cosign, Notation or both.")
	}
	ctx := c.Request().Context()
	if len(repos) == 0 {
		plans, err := s.Migration.PlanNamespaces(ctx, nss)
		if err != nil {
			return err
		}
		for _, p := range plans {
			repos = append(repos, p.Namespace+"/"+p.Name)
		}
		if len(repos) == 0 {
			return again(http.StatusBadRequest, "There is no repository to migrate.")
		}
	}
	run, resumed, err := s.startMigration(c, repos, formats, passphrase, keyPassphrases(form))
	if err != nil {
		if !userError(err) {
			return err
		}
		status, _, msg := classify(err)
		return again(status, msg)
	}
	msg := "Migration started."
	if resumed {
		msg = "Migration resumed: what was signed before is not signed again."
	}
	return s.redirectWithNotice(c, "/migrations/"+run.ID, msg)
}

// keyPassphrases are the run form's passphrases of keys with their own
// (fields "passphrase.<key id>"; empty ones left out: the key takes the
// common passphrase).
func keyPassphrases(form url.Values) map[string]string {
	out := map[string]string{}
	for name, v := range form {
		if id, ok := strings.CutPrefix(name, "passphrase."); ok && id != "" && len(v) > 0 && v[0] != "" {
			out[id] = v[0]
		}
	}
	return out
}

// migrationRefresh is how often a running run's page reloads (seconds).
const migrationRefresh = 2

// migrationRunPage is GET /migrations/{id}: a run's progress and items, read
// from the store (it survives reloads and restarts), reloading itself while
// the run goes on.
func (s *Server) migrationRunPage(c echo.Context) error {
	run, err := s.runForWatch(c)
	if err != nil {
		return err
	}
	p := s.page(c, "Migration run", "migration")
	v := runView(run)
	if v.Running() {
		p.Refresh = migrationRefresh
	}
	return render(c, http.StatusOK, views.MigrationRunPage(p, v))
}

func runView(r *migration.Run) views.MigrationRunView {
	v := views.MigrationRunView{ID: r.ID, State: r.State, Error: r.Error, Repositories: r.Repositories,
		Formats: r.Formats, StartedBy: r.StartedBy, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
		Total: r.Total, Pending: r.Pending, Signed: r.Signed, Skipped: r.Skipped, Failed: r.Failed, Progress: r.Progress}
	for _, it := range r.Items {
		v.Items = append(v.Items, views.MigrationItem{Repository: it.Repository, Tag: it.Tag, Digest: it.Digest,
			Format: it.Format, Status: it.Status, Reason: it.Reason, Message: it.Message, Key: it.Key})
	}
	return v
}

// signingKeyForm is POST /namespaces/{ns}/signing-keys: it generates the
// namespace's cosign key or Notation CA and certificate, makes an existing
// signer's vault key its cosign key (vault_key_id), or imports the admin's
// own Notation chain and key, and goes back to the migration page. The API
// does the same (createSigningKey).
func (s *Server) signingKeyForm(c echo.Context) error {
	ns, err := s.namespaceRole(c, accounts.RoleAdmin)
	if err != nil {
		return err
	}
	in := signingKeyInput{Format: c.FormValue("format"), Passphrase: c.FormValue("passphrase"),
		VaultKeyID: c.FormValue("vault_key_id"), CertificateChain: c.FormValue("certificate_chain"),
		Root: c.FormValue("root"), PrivateKey: c.FormValue("private_key")}
	if in.Format != resign.FormatCosign && in.Format != resign.FormatNotation {
		return errs.Invalidf("invalid_format", "Unknown format %q: choose cosign or notation.", in.Format)
	}
	if _, err := s.createSigningKey(c, ns, in); err != nil {
		if !userError(err) {
			return err
		}
		status, _, msg := classify(err)
		typed := views.KeyTyped{}
		if in.CertificateChain != "" || in.Root != "" {
			typed = views.KeyTyped{Namespace: ns, Chain: in.CertificateChain, Root: in.Root}
		}
		return s.renderOverviewErrors(c, status, "", msg, typed)
	}
	what := strings.ToUpper(in.Format[:1]) + in.Format[1:] + " key generated for " + ns + "."
	switch {
	case in.VaultKeyID != "":
		what = "The signer's key " + in.VaultKeyID + " now signs cosign signatures for " + ns + "."
	case in.CertificateChain != "":
		what = "Notation certificate chain imported for " + ns + "."
	}
	return s.redirectWithNotice(c, "/migration#keys-"+ns, what)
}

// cosignCandidates are the vault's keys the caller may lend to a
// namespace's cosign signatures: signers' ECDSA P-256 keys (cosign's),
// not repository keys.
func (s *Server) cosignCandidates(c echo.Context) ([]views.VaultKeyChoice, error) {
	ctx, u := c.Request().Context(), currentUser(c)
	all, err := s.Vault.List(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []views.VaultKeyChoice
	for _, k := range all {
		if k.Algorithm != "ECDSA P-256" || k.GUN != "" || k.Role == "root" || !s.mayManageKey(ctx, u, k) {
			continue
		}
		out = append(out, views.VaultKeyChoice{ID: k.ID, Role: k.Role, Algorithm: k.Algorithm})
	}
	return out, nil
}

// tagStates are the registry states of a page's rows, as
// Migration.Signatures reads them.
func tagStates(rows []views.SignedTagRow) []trust.TagState {
	out := make([]trust.TagState, len(rows))
	for i, r := range rows {
		out[i] = trust.TagState{Name: r.Tag, State: r.State, RegistryDigest: r.RegistryDigest}
		if r.Digest != "" {
			out[i].SignedDigest = "sha256:" + r.Digest
		}
	}
	return out
}

// sigsView converts the registry's signatures of a tag for the views.
func sigsView(t migration.TagSignatures) *views.TagSigs {
	v := &views.TagSigs{DCT: t.DCT, Error: t.Error, Checking: t.Checking,
		Cosign:   views.SigMark{Signed: t.Cosign.Signed, KeyID: t.Cosign.KeyID, Identity: t.Cosign.Identity},
		Notation: views.SigMark{Signed: t.Notation.Signed, KeyID: t.Notation.KeyID, Identity: t.Notation.Identity}}
	for _, o := range t.Others {
		v.Others = append(v.Others, views.OtherSig{Format: o.Format, Identity: o.Identity, KeyID: o.KeyID,
			Problem: o.Problem, Verified: o.Verified})
	}
	return v
}

// pageSignatures fills in the signature columns of the rows of the tags
// table's page (with a registry and the migration service) from what is
// known: the page never waits for the registry, digests not read yet show
// "checking…" while they are read in the background. A failure of the keys
// leaves the columns out rather than the page.
func (s *Server) pageSignatures(c echo.Context, r *catalog.Repository, tv *views.TrustView) error {
	if s.Migration == nil || !tv.Registry.Configured || len(tv.Tags) == 0 {
		return nil
	}
	sigs, err := s.Migration.KnownSignatures(c.Request().Context(), r.Namespace, r.Name, tagStates(tv.Tags))
	if err != nil {
		if errs.KindOf(err) == errs.Internal {
			return err
		}
		return nil
	}
	for i := range sigs {
		if i < len(tv.Tags) {
			tv.Tags[i].Sigs = sigsView(sigs[i])
		}
	}
	tv.Signatures = true
	return nil
}

// tagSignatures fills in the tag page's signatures.
func (s *Server) tagSignatures(c echo.Context, r *catalog.Repository, m *views.TagDetailView) error {
	if s.Migration == nil || !m.Registry.Configured {
		return nil
	}
	st := trust.TagState{Name: m.Tag, State: m.State, RegistryDigest: m.RegistryDigest, SignedDigest: m.SignedDigest}
	sigs, err := s.Migration.KnownSignatures(c.Request().Context(), r.Namespace, r.Name, []trust.TagState{st})
	if err != nil {
		if errs.KindOf(err) == errs.Internal {
			return err
		}
		return nil
	}
	if len(sigs) == 1 && st.RegistryDigest != "" {
		m.Sigs = sigsView(sigs[0])
	}
	return nil
}
