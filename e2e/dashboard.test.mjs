// The dashboard pass, second part: roles that disagree are marked on the repository page and
// counted in its summary (linked to the tags); the tag view says which digest docker pulls and why,
// names each role's signer and copies `docker pull <gun>@sha256:…`; the revoke preview counts first
// what leaves with the signer's role, unreleased tags included; the removal wizard tells what
// clients with a cache still do. Each page at 1366 px and 390 px: no horizontal overflow.
//
// Screenshots: e2e/artifacts/dashboard-*.png
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { api } from './lib/server.mjs';
import { seedKeyPair, seedRepository } from './lib/seed.mjs';
import { browserSuite, withSession } from './lib/suite.mjs';

const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');

/** The page fits the viewport's width (wide tables scroll inside their own box). */
async function assertFits(s, what) {
  const { scrollWidth, innerWidth } = await s.page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
  }));
  assert.ok(scrollWidth <= innerWidth, `${what}: the page is ${scrollWidth} px wide in a ${innerWidth} px viewport`);
}

browserSuite('dashboard', (env, it) => {
  let seeded = null;
  function seed() {
    seeded ??= (async () => ({
      mixed: await seedRepository(env.server, 'prod/mixed', 'disagree'),
      nginx: await seedRepository(env.server, 'prod/nginx', 'seed'),
    }))();
    return seeded;
  }

  for (const width of [1366, 390]) {
    it(`at ${width} px: a tag whose roles disagree is marked and leads to the tag view, which says what docker pulls`, async () => {
      const { mixed } = await seed();
      await withSession(env, `dashboard-${width}`, async (s) => {
        await s.page.setViewportSize({ width, height: width > 800 ? 900 : 844 });
        await s.login();
        await s.goto('/repositories/prod/mixed');
        await s.shot('repository');
        await assertFits(s, 'repository page');

        // The summary counts the tag and links to the tags.
        const problem = s.page.locator('#summary ul.problems a', { hasText: 'roles that disagree' });
        assert.equal(await problem.innerText(), '1 tag has roles that disagree on its digest: a signer\'s role signs another image than the released one');
        assert.equal(await problem.getAttribute('href'), '#signed-tags');

        // Tag 1's row carries the badge; tag 2's does not.
        const row1 = s.page.locator('#signed-tags table.tags tbody tr', { has: s.page.getByRole('link', { name: '1', exact: true }) });
        const badge = row1.getByRole('link', { name: 'roles disagree' });
        assert.equal(await badge.count(), 1, 'tag 1 is marked');
        const row2 = s.page.locator('#signed-tags table.tags tbody tr', { has: s.page.getByRole('link', { name: '2', exact: true }) });
        assert.equal(await row2.getByRole('link', { name: 'roles disagree' }).count(), 0, 'tag 2 is not');

        await s.navigate(() => badge.click());
        await s.shot('tag-1');
        await assertFits(s, 'tag view');
        assert.equal(s.pathname(), '/repositories/prod/mixed/tags');
        const pull = s.page.locator('#pull');
        const pullText = (await pull.innerText()).replace(/\s+/g, ' ');
        assert.match(pullText, /pulls sha256:[0-9a-f]{12}…, the digest in targets\/releases: docker looks the tag up in targets\/releases first/);
        assert.match(pullText, /not pulled by docker/);
        assert.equal(await pull.locator('#pulled-digest').getAttribute('title'), `sha256:${mixed.digests['1']}`);
        const command = `docker pull ${mixed.gun}@sha256:${mixed.digests['1']}`;
        assert.equal(await pull.locator('#pull-command').innerText(), command);
        assert.equal(await pull.getByRole('button', { name: 'Copy the docker pull command by digest' }).getAttribute('data-copy'), command);

        // Each role with its signer and digest; the released one is what docker pulls.
        const rows = await s.page.locator('main table tbody tr').evaluateAll((trs) =>
          trs.map((tr) => [...tr.cells].map((td) => td.textContent.replace(/\s+/g, ' ').trim())));
        const byRole = Object.fromEntries(rows.map((r) => [r[0].split(' ')[0], r]));
        assert.equal(byRole['targets/releases'][0], 'targets/releases docker pulls this');
        assert.match(byRole['targets/releases'][1], /^ian, jeff \(any signer's key in targets\/releases\)$/);
        assert.equal(byRole['targets/jeff'][1], 'jeff');
        assert.equal(byRole['targets/ian'][1], 'ian');
        assert.equal(byRole['targets/ian'][2], `${sha256("ian's nginx:1 manifest")} Copy`);
        assert.match(await s.page.getByRole('alert').innerText(), /roles disagree on the digest/);
      });
    });
  }

  it('a tag only in a signer\'s role: docker pulls nothing, and the tag view says why', async () => {
    await seed();
    await withSession(env, 'dashboard-unreleased', async (s) => {
      await s.login();
      await s.goto('/repositories/prod/nginx');
      await s.navigate(() => s.page.locator('#unreleased').getByRole('link', { name: 'only-jeff' }).click());
      await s.shot('only-jeff');
      assert.match((await s.page.locator('#not-pulled').innerText()).replace(/\s+/g, ' '),
        /refuses docker pull .*:only-jeff: neither targets\/releases nor targets signs the tag, and docker uses no other role/);
      assert.equal(await s.page.locator('#pull-command').count(), 0);
    });
  });

  for (const width of [1366, 390]) {
    it(`at ${width} px the revoke preview counts first what leaves with the signer's role`, async () => {
      const { nginx } = await seed();
      await withSession(env, `dashboard-revoke-${width}`, async (s) => {
        await s.page.setViewportSize({ width, height: width > 800 ? 900 : 844 });
        await s.login();
        await s.goto('/repositories/prod/nginx/signers/jeff/revoke');
        await s.shot('revoke-jeff');
        await assertFits(s, 'revoke preview');
        // only-jeff is signed only in targets/jeff: deleting the role deletes it. Tag 2 stays
        // released (targets/releases is also signed with ian's key) but loses its last signer.
        const impact = s.page.locator('#impact');
        assert.equal(await impact.locator('#impact-counts').innerText(), 'Revoking jeff removes 1 unreleased tag and 0 released tags.');
        const removed = impact.locator('#removed-unreleased');
        assert.equal(await removed.locator('summary').innerText(), '1 unreleased tag signed only by jeff');
        assert.equal(await removed.getAttribute('open'), '', 'a short list is open');
        assert.deepEqual(await removed.locator('li .tagname').allInnerTexts(), ['only-jeff']);
        assert.equal(await removed.locator('code.digest').getAttribute('title'), `sha256:${nginx.digests['only-jeff']}`);
        assert.deepEqual(await impact.locator('li.tagname').allInnerTexts(), ['2'], 'tag 2 loses its last named signer');
        assert.match(await impact.locator('#keep-release').innerText(), /stay released .*: 2\.$/);
      });
    });
  }

  for (const width of [1366, 390]) {
    it(`at ${width} px the removal wizard says what clients with a cache still do`, async () => {
      const { nginx } = await seed();
      await withSession(env, `dashboard-removal-${width}`, async (s) => {
        await s.page.setViewportSize({ width, height: width > 800 ? 900 : 844 });
        await s.login();
        await s.goto('/repositories/prod/nginx/delete');
        const caches = s.page.locator('#client-caches');
        await caches.scrollIntoViewIfNeeded();
        await s.shot('removal-wizard');
        await assertFits(s, 'removal wizard');
        const text = (await caches.innerText()).replace(/\s+/g, ' ');
        assert.match(text, /keeps resolving the old signed digests from its cached timestamp until that expires \(a timestamp lasts 14 days by default; the current one expires \d{4}-\d\d-\d\d/);
        assert.ok(text.includes(`notary delete ${nginx.gun} (without --remote)`), text);
        assert.ok(text.includes(`~/.docker/trust/tuf/${nginx.gun}`), text);
        assert.doesNotMatch(await s.page.locator('main').innerText(), /can no longer pull/);
      });
    });
  }

  it('every problem of the summary links to the section that explains it', async () => {
    await seed();
    await withSession(env, 'dashboard-summary', async (s) => {
      await s.login();
      for (const repo of ['/repositories/prod/nginx', '/repositories/prod/mixed']) {
        await s.goto(repo);
        const links = s.page.locator('#summary ul.problems a');
        const n = await links.count();
        assert.ok(n >= 1, `${repo}: the summary lists problems`);
        for (let i = 0; i < n; i += 1) {
          const link = links.nth(i);
          const [text, href] = [await link.innerText(), await link.getAttribute('href')];
          const want = /not released/.test(text) ? '#unreleased' : /certificate/.test(text) ? '#signers'
            : /disagree/.test(text) ? '#signed-tags' : /expire/.test(text) ? '#expiry' : null;
          assert.equal(href, want, `${repo}: "${text}" links to ${href}`);
          await link.click();
          await s.page.waitForFunction((h) => window.location.hash === h, href);
          const inView = await s.page.locator(href).evaluate((el) => {
            const r = el.getBoundingClientRect();
            return r.top >= -1 && r.top < window.innerHeight;
          });
          assert.ok(inView, `${repo}: after "${text}" the section ${href} is in view`);
          await s.shot(`summary-${href.slice(1)}`);
        }
      }
    });
  });

  it('My keys says where the user is a signer', async () => {
    const user = { username: 'jeff', password: 'jeff-password-of-dashboard' };
    assert.equal((await api(env.server, 'POST', '/api/v1/repositories', { body: { namespace: 'prod', name: 'signed-by-jeff' } })).status, 201);
    const init = await api(env.server, 'POST', '/api/v1/repositories/prod/signed-by-jeff/trust',
      { body: { root_passphrase: 'root-passphrase-of-dashboard', repository_passphrase: 'repository-passphrase-of-dashboard' } });
    assert.equal(init.status, 201, init.body);
    assert.equal((await api(env.server, 'POST', '/api/v1/users', { body: { ...user, admin: false } })).status, 201);
    assert.equal((await api(env.server, 'PUT', `/api/v1/namespaces/prod/members/${user.username}`, { body: { role: 'write' } })).status, 200);
    const key = await seedKeyPair('jeff');
    const registered = await api(env.server, 'POST', `/api/v1/users/${user.username}/keys`, { body: { public_key: key.cert }, as: user });
    assert.equal(registered.status, 201, registered.body);
    const added = await api(env.server, 'POST', '/api/v1/repositories/prod/signed-by-jeff/signers',
      { body: { name: 'jeff', public_key: key.cert, repository_passphrase: 'repository-passphrase-of-dashboard' } });
    assert.equal(added.status, 201, added.body);

    for (const width of [1366, 390]) {
      await withSession(env, `dashboard-my-keys-${width}`, async (s) => {
        await s.page.setViewportSize({ width, height: width > 800 ? 900 : 844 });
        await s.login(user.username, user.password);
        await s.goto('/profile/keys');
        const section = s.page.locator('#signer-in');
        await section.scrollIntoViewIfNeeded();
        await s.shot('my-keys');
        await assertFits(s, 'my keys');
        const rows = await section.locator('tbody tr').evaluateAll((trs) =>
          trs.map((tr) => [...tr.cells].map((td) => td.textContent.replace(/\s+/g, ' ').trim())));
        assert.deepEqual(rows.sort((a, b) => a[1].localeCompare(b[1])), [
          ['prod/signed-by-jeff', 'targets/jeff', 'jeff', key.keyId.slice(0, 12)],
          ['prod/signed-by-jeff', 'targets/releases', 'releases', key.keyId.slice(0, 12)],
        ]);
        await s.navigate(() => section.getByRole('link', { name: 'prod/signed-by-jeff' }).first().click());
        assert.equal(s.pathname(), '/repositories/prod/signed-by-jeff');
      });
    }
  });
});
