// Repositories: create one through the form, reject an invalid name, find it by search.
import assert from 'node:assert/strict';
import { uniqueSuffix } from './lib/browser.mjs';
import { browserSuite, withSession } from './lib/suite.mjs';

/** Creates ns/name through /repositories/new; returns the response of the page it lands on. */
async function createRepository(s, namespace, name, { shotPrefix = 'new-repository' } = {}) {
  await s.goto('/repositories/new');
  await s.page.getByLabel('Namespace', { exact: true }).fill(namespace);
  await s.page.getByLabel('Name', { exact: true }).fill(name);
  await s.shot(`${shotPrefix}-form-filled`);
  return s.navigate(() => s.page.getByRole('button', { name: 'Create repository' }).click());
}

/** The link texts in the first cell of each row of the repositories table. */
async function listedRepositories(page) {
  return page.locator('table tbody tr td:first-child a').allInnerTexts()
    .then((texts) => texts.map((t) => t.trim()));
}

browserSuite('repositories', (env, it) => {
  const ns = `e2e${uniqueSuffix()}`;
  const alpha = `alpha-${uniqueSuffix()}`;
  const beta = `beta-${uniqueSuffix()}`;

  it('an empty list, and "New repository" leads to the form', async () => {
    await withSession(env, 'repos-new-link', async (s) => {
      await s.login();
      assert.equal(s.pathname(), '/repositories');
      await s.page.getByRole('heading', { name: 'Repositories' }).first().waitFor();
      await s.shot('repositories-empty');
      const link = s.page.getByRole('link', { name: 'New repository' });
      assert.equal(new URL(await link.evaluate((a) => a.href)).pathname, '/repositories/new');
      await s.navigate(() => link.click());
      assert.equal(s.pathname(), '/repositories/new');
      await s.page.getByLabel('Namespace', { exact: true }).waitFor();
      assert.equal(await s.page.getByLabel('Namespace', { exact: true }).getAttribute('name'), 'namespace');
      assert.equal(await s.page.getByLabel('Name', { exact: true }).getAttribute('name'), 'name');
      await s.shot('new-repository-form');
    });
  });

  it('creates a repository and shows its page', async () => {
    await withSession(env, 'repos-create', async (s) => {
      await s.login();
      for (const name of [alpha, beta]) {
        const res = await createRepository(s, ns, name, { shotPrefix: name.split('-')[0] });
        await s.shot(`${name.split('-')[0]}-created`);
        assert.equal(res.status(), 200);
        assert.equal(s.pathname(), `/repositories/${ns}/${name}`);
        const heading = s.page.getByRole('heading', { level: 1 });
        assert.match(await heading.first().innerText(), new RegExp(`${ns}/${name}`));
      }
      // Both are listed, each linking to its own page.
      await s.goto('/repositories');
      await s.shot('repositories-list');
      const listed = await listedRepositories(s.page);
      for (const name of [alpha, beta]) {
        assert.ok(listed.includes(`${ns}/${name}`), `${ns}/${name} listed in ${JSON.stringify(listed)}`);
        const link = s.page.locator('table tbody tr td:first-child a', { hasText: `${ns}/${name}` });
        assert.equal(new URL(await link.evaluate((a) => a.href)).pathname, `/repositories/${ns}/${name}`);
      }
    });
  });

  it('an invalid name is refused with 400 and an alert', async () => {
    await withSession(env, 'repos-invalid', async (s) => {
      await s.login();
      await s.goto('/repositories/new');
      // Server-side validation is what is under test: switch off the browser's own checks.
      await s.page.locator('form:has(button:text-is("Create repository"))')
        .evaluate((f) => f.setAttribute('novalidate', ''));
      await s.page.getByLabel('Namespace', { exact: true }).fill(ns);
      await s.page.getByLabel('Name', { exact: true }).fill('Not A Valid Name!');
      const res = await s.navigate(() => s.page.getByRole('button', { name: 'Create repository' }).click());
      await s.shot('invalid-name-error');
      assert.equal(res.status(), 400);
      const alert = s.page.getByRole('alert').first();
      await alert.waitFor();
      assert.ok((await alert.innerText()).trim().length > 0, 'the alert explains what is wrong');
    }, { expectedStatuses: [400] });
  });

  it('search finds a repository by name and leaves others out', async () => {
    await withSession(env, 'repos-search', async (s) => {
      await s.login();
      const search = s.page.getByLabel('Search repositories', { exact: true });
      assert.equal(await search.getAttribute('name'), 'q');
      const form = s.page.locator('form:has(input[name="q"])');
      assert.notEqual((await form.getAttribute('method'))?.toLowerCase(), 'post', 'search is a GET form');

      await search.fill(alpha);
      await s.shot('search-filled');
      const res = await s.navigate(() => s.page.getByRole('button', { name: 'Search', exact: true }).click());
      await s.shot('search-results');
      assert.equal(res.status(), 200);
      const url = new URL(s.page.url());
      assert.equal(url.pathname, '/repositories');
      assert.equal(url.searchParams.get('q'), alpha);
      const listed = await listedRepositories(s.page);
      assert.ok(listed.includes(`${ns}/${alpha}`), `search for ${alpha} lists it: ${JSON.stringify(listed)}`);
      assert.ok(!listed.includes(`${ns}/${beta}`), `search for ${alpha} leaves ${beta} out: ${JSON.stringify(listed)}`);

      // The result links to the repository page.
      await s.navigate(() => s.page.getByRole('link', { name: `${ns}/${alpha}` }).click());
      await s.shot('search-result-opened');
      assert.equal(s.pathname(), `/repositories/${ns}/${alpha}`);

      // Progressive enhancement runs under the CSP: the GUN's Copy button fills the clipboard.
      const copy = s.page.getByRole('button', { name: 'Copy' }).first();
      if (await copy.count()) {
        await s.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: env.server.baseURL });
        const want = await copy.getAttribute('data-copy');
        await copy.click();
        await s.page.getByRole('button', { name: 'Copied' }).first().waitFor();
        assert.equal(await s.page.evaluate(() => navigator.clipboard.readText()), want);
        await s.shot('gun-copied');
      }

      // Nothing matches: no rows link to either repository.
      await s.goto(`/repositories?q=${encodeURIComponent(`nomatch-${uniqueSuffix()}`)}`);
      await s.shot('search-no-results');
      const none = await listedRepositories(s.page);
      assert.ok(!none.includes(`${ns}/${alpha}`) && !none.includes(`${ns}/${beta}`), JSON.stringify(none));
    });
  });
});
