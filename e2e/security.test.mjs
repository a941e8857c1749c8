// Headers, cookies, TLS, health endpoints, and a tour of the pages with no console errors.
import assert from 'node:assert/strict';
import { httpsGet } from './lib/server.mjs';
import { browserSuite, withSession } from './lib/suite.mjs';

/** Parses a Content-Security-Policy header into { directive: [sources] }. */
function parseCSP(header) {
  const out = {};
  for (const part of header.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) out[name.toLowerCase()] = sources;
  }
  return out;
}

/** Asserts the CSP header of a response is present and allows no inline script. */
function assertStrictCSP(headers, where) {
  const header = headers['content-security-policy'];
  assert.ok(header, `${where}: Content-Security-Policy header present`);
  const csp = parseCSP(header);
  const scriptSrc = csp['script-src'] ?? csp['default-src'];
  assert.ok(scriptSrc, `${where}: CSP has script-src (or default-src): ${header}`);
  assert.ok(!scriptSrc.includes("'unsafe-inline'"), `${where}: no 'unsafe-inline' in script-src: ${header}`);
  assert.ok(!scriptSrc.includes("'unsafe-eval'"), `${where}: no 'unsafe-eval' in script-src: ${header}`);
  assert.ok(!scriptSrc.includes('*'), `${where}: no wildcard in script-src: ${header}`);
}

browserSuite('security', (env, it) => {
  it('the server certificate verifies against the generated CA; /healthz and /readyz answer 200', async () => {
    assert.ok(env.server.ca, `generated CA at ${env.server.dataDir}/tls/ca.crt`);
    const health = await httpsGet(`${env.server.baseURL}/healthz`, { ca: env.server.ca });
    assert.equal(health.status, 200);
    assert.match(health.body, /ok/i);
    const ready = await httpsGet(`${env.server.baseURL}/readyz`, { ca: env.server.ca });
    assert.equal(ready.status, 200);
  });

  it('Content-Security-Policy is present and has no unsafe-inline script (signed out and in)', async () => {
    await withSession(env, 'security-csp', async (s) => {
      const login = await s.goto('/login');
      await s.shot('login');
      assertStrictCSP(await login.allHeaders(), 'GET /login');

      const after = await s.login();
      assertStrictCSP(await after.allHeaders(), `GET ${s.pathname()}`);
      const created = await s.goto('/repositories/new');
      assertStrictCSP(await created.allHeaders(), 'GET /repositories/new');

      // Any inline <script> must carry the nonce the policy names.
      const csp = parseCSP((await created.allHeaders())['content-security-policy']);
      const scriptSrc = csp['script-src'] ?? csp['default-src'];
      const nonces = scriptSrc.filter((x) => x.startsWith("'nonce-")).map((x) => x.slice(7, -1));
      const inline = await s.page.$$eval('script:not([src])', (els) => els.map((e) => e.nonce || ''));
      for (const n of inline) {
        assert.ok(nonces.includes(n), `inline <script> has the policy's nonce (nonces ${JSON.stringify(nonces)})`);
      }
    });
  });

  it('cookies are Secure, not SameSite=None, and the session cookie is HttpOnly', async () => {
    await withSession(env, 'security-cookies', async (s) => {
      await s.goto('/login');
      const before = new Set((await s.context.cookies()).map((c) => c.name));
      await s.login();
      const cookies = await s.context.cookies();
      assert.ok(cookies.length > 0, 'signing in sets a cookie');
      for (const c of cookies) {
        assert.ok(c.secure, `cookie ${c.name} is Secure`);
        assert.notEqual(c.sameSite, 'None', `cookie ${c.name} is not SameSite=None`);
      }
      const fresh = cookies.filter((c) => !before.has(c.name));
      const session = fresh.length ? fresh : cookies;
      assert.ok(session.some((c) => c.httpOnly),
        `a session cookie set at sign-in is HttpOnly: ${JSON.stringify(session.map(({ name, httpOnly }) => ({ name, httpOnly })))}`);
    });
  });

  it('a form post without the CSRF token is refused', async () => {
    await withSession(env, 'security-csrf', async (s) => {
      await s.login();
      await s.goto('/repositories/new');
      const form = s.page.locator('form:has(button:text-is("Create repository"))');
      await form.evaluate((f) => {
        f.setAttribute('novalidate', '');
        for (const el of f.querySelectorAll('input[name="_csrf"]')) el.remove();
      });
      await s.page.getByLabel('Namespace', { exact: true }).fill('csrf');
      await s.page.getByLabel('Name', { exact: true }).fill('no-token');
      const res = await s.navigate(() => s.page.getByRole('button', { name: 'Create repository' }).click());
      await s.shot('post-without-csrf');
      assert.ok(res.status() === 400 || res.status() === 403, `refused: status ${res.status()}`);
      await s.goto('/repositories');
      const listed = await s.page.locator('table tbody tr td:first-child a').allInnerTexts();
      assert.ok(!listed.map((t) => t.trim()).includes('csrf/no-token'), 'no repository created without the token');
    }, { expectedStatuses: [400, 403] });
  });

  it('a tour of the main pages: no console errors, every page has a title and a main landmark', async () => {
    await withSession(env, 'security-tour', async (s) => {
      await s.goto('/login');
      await s.shot('tour-login');
      await s.login();
      const pages = ['/repositories', '/repositories/new', '/admin/users'];
      for (const p of pages) {
        const res = await s.goto(p);
        await s.shot(`tour-${p.slice(1).replace(/\//g, '-')}`);
        assert.equal(res.status(), 200, `GET ${p}`);
        assert.ok((await s.page.title()).trim().length > 0, `${p} has a <title>`);
        assert.ok((await s.page.getByRole('main').count()) >= 1, `${p} has a <main> landmark`);
      }
      // Every link in the header navigation leads to a page that answers 200.
      await s.goto('/repositories');
      const navLinks = await s.page.locator('header nav a').evaluateAll((as) => as.map((a) => a.href));
      assert.ok(navLinks.length > 0, 'the header has navigation links');
      for (const href of navLinks) {
        const res = await s.goto(href);
        await s.shot(`tour-nav-${new URL(href).pathname.slice(1).replace(/\//g, '-')}`);
        assert.equal(res.status(), 200, `header link ${href}`);
      }
      // Inputs have labels (an accessible name) everywhere on these pages.
      for (const p of pages) {
        await s.goto(p);
        const unlabelled = await s.page.$$eval(
          'input:not([type=hidden]):not([type=submit]):not([type=button]), select, textarea',
          (els) => els.filter((el) => {
            const id = el.id;
            const byFor = id && document.querySelector(`label[for="${CSS.escape(id)}"]`);
            return !byFor && !el.closest('label') && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby');
          }).map((el) => el.outerHTML.slice(0, 120)));
        assert.deepEqual(unlabelled, [], `${p}: every input has a label`);
      }
    });
  });
});
