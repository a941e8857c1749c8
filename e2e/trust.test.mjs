// Trust inspection: the repository page, the tag view and the repository list show the trust data
// that bin/trustdeck-e2e-seed (e2e/seed, notary's client library) signs into the server: the seed's
// example (tag 1 signed by ian and jeff), a tag only in a signer's role, hostile, very long and
// non-ASCII tag names, which must render as inert text.
import assert from 'node:assert/strict';
import { httpsGet } from './lib/server.mjs';
import { seedRepository as runSeed } from './lib/seed.mjs';
import { browserSuite, withSession } from './lib/suite.mjs';

// The tags of the seed's "edge" scenario (e2e/seed/main.go).
const TAG_SCRIPT = '<script>alert(1)</script>';
const TAG_IMG = '"><img src=x onerror=alert(1)>';
const TAG_UNICODE = '版本-1';
const TAG_LONG = `long-${'x'.repeat(1995)}`;
const TAG_HIDDEN = '<b>hidden</b>';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** GET on trustdeck's JSON API with the admin's basic credentials, the server verified by its CA. */
function apiGet(server, urlPath) {
  const auth = Buffer.from(`${server.adminUser}:${server.adminPassword}`).toString('base64');
  return httpsGet(`${server.baseURL}${urlPath}`, { ca: server.ca, timeoutMs: 15_000, headers: { Authorization: `Basic ${auth}` } });
}

/** The rows of a table body as arrays of trimmed cell texts (textContent: exactly what is rendered as text). */
function tableRows(table) {
  return table.locator('tbody tr').evaluateAll((trs) =>
    trs.map((tr) => [...tr.cells].map((td) => td.textContent.replace(/\s+/g, ' ').trim())));
}

/** The texts of the first cell (the tag) of the signed-tags table, untouched. */
function signedTagNames(page) {
  return page.locator('#signed-tags table.tags tbody td.tagname').evaluateAll((tds) => tds.map((td) => td.textContent));
}

/**
 * Records dialogs (alert, confirm, …): none may open. Checked with assertNoInjection.
 */
function watchDialogs(s) {
  const dialogs = [];
  s.page.on('dialog', async (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    await d.dismiss().catch(() => {});
  });
  return dialogs;
}

/** No dialog fired, and nothing the hostile names would inject exists in the document. */
async function assertNoInjection(s, dialogs, where) {
  // Give an injected onerror handler the chance to run before looking.
  await s.page.waitForTimeout(300);
  assert.deepEqual(dialogs, [], `no dialog on ${where}`);
  const injected = await s.page.evaluate(() => ({
    imgX: document.querySelectorAll('img[src="x"], img[onerror]').length,
    anyOnerror: document.querySelectorAll('[onerror]').length,
    alertScripts: [...document.querySelectorAll('script')].filter((el) => el.textContent.includes('alert(')).length,
    mainScripts: document.querySelectorAll('main script').length,
    mainBold: document.querySelectorAll('main b').length,
  }));
  assert.deepEqual(injected, { imgX: 0, anyOnerror: 0, alertScripts: 0, mainScripts: 0, mainBold: 0 },
    `no element injected on ${where}`);
}

browserSuite('trust', (env, it) => {
  // One set of trust data for the whole file, made on first use (after the server started).
  let seeded = null;
  function seed() {
    seeded ??= (async () => {
      const out = {};
      // In this order, more than a second apart: the "last signed" and "nearest expiry" sorts rely
      // on it. (The list sorts those times as RFC 3339 text with trailing zeros of the fraction
      // trimmed, which misorders two times within the same second now and then: reported.)
      out.plain = await runSeed(env.server, 'prod/plain', 'none');
      out.fresh = await runSeed(env.server, 'prod/fresh', 'init');
      await sleep(1100);
      out.nginx = await runSeed(env.server, 'prod/nginx', 'seed');
      await sleep(1100);
      out.edge = await runSeed(env.server, 'prod/edge', 'edge');
      return out;
    })();
    return seeded;
  }

  it("the repository page shows the seed's example: tag 1 signed by ian, jeff, their keys, the administrative keys", async () => {
    const { nginx } = await seed();
    await withSession(env, 'trust-seed-page', async (s) => {
      await s.login();
      const res = await s.goto('/repositories/prod/nginx');
      await s.shot('repository-page-signed');
      assert.equal(res.status(), 200);
      assert.equal(await s.page.locator('#gun').innerText(), nginx.gun);

      // Signed tags: docker's rows, in natural order; only-jeff is not released, so not here.
      const tags = s.page.locator('#signed-tags table.tags');
      const tagRows = await tableRows(tags);
      assert.deepEqual(tagRows.map((r) => r.slice(0, 2)), [
        ['1', `sha256:${nginx.digests['1'].slice(0, 12)}… Copy`],
        ['2', `sha256:${nginx.digests['2'].slice(0, 12)}… Copy`],
      ]);
      // The signers' order is checked by its own test below.
      assert.deepEqual(tagRows[0][2].split(', ').sort(), ['ian', 'jeff'], 'tag 1 signed by ian and jeff');
      assert.equal(tagRows[1][2], 'jeff', 'tag 2 signed by jeff');
      const row1 = tags.locator('tbody tr').first();
      // A short digest: the whole one in its title and on the copy button.
      assert.equal(await row1.getByRole('button', { name: 'Copy digest' }).getAttribute('data-copy'), nginx.digests['1']);
      assert.equal(await row1.locator('code.digest').getAttribute('title'), `sha256:${nginx.digests['1']}`);

      // Signers and their keys: both certificates, 12-character IDs with the full ID in title and copy.
      const signers = s.page.locator('#signers table');
      const signerRows = await tableRows(signers);
      assert.equal(signerRows.length, 2, `one row per key: ${JSON.stringify(signerRows)}`);
      assert.deepEqual(signerRows.map((r) => r[0]), ['ian', 'jeff'], 'signers in natural order');
      for (const [i, name] of ['ian', 'jeff'].entries()) {
        const id = nginx.signers[name][0];
        const tr = signers.locator('tbody tr').nth(i);
        const code = tr.locator('code.keyid');
        assert.equal(await code.textContent(), id.slice(0, 12), `${name}: short key ID`);
        assert.equal(await code.getAttribute('title'), id, `${name}: full key ID in title`);
        assert.equal(await tr.locator('button.copy').getAttribute('data-copy'), id, `${name}: copy gives the full ID`);
        assert.equal(signerRows[i][2], 'x509 certificate', `${name}: key type`);
        assert.equal(signerRows[i][3], name, `${name}: certificate subject`);
        assert.match(signerRows[i][4], /^\d{4}-\d\d-\d\d \d\d:\d\d UTC/, `${name}: certificate expiry`);
      }
      // ian's certificate expires in 20 days, jeff's in a year.
      assert.equal(await signers.locator('tbody tr').nth(0).locator('.status').innerText(), 'expiring');
      assert.equal(await signers.locator('tbody tr').nth(1).locator('.status').innerText(), 'valid');

      // Administrative keys: the root key and the repository (targets) key, full IDs. The root key by
      // both its IDs, labelled: its key ID (its key file's name) and its certificate's, which root.json
      // lists and docker shows.
      const admin = s.page.locator('#admin-keys');
      const dd = admin.locator('dd');
      assert.deepEqual(await dd.nth(0).locator('code').allTextContents(), nginx.repositoryKeys, 'Repository key');
      assert.deepEqual(await dd.nth(1).locator('code.root-cert-id').allTextContents(), nginx.rootKeys, 'Root key: its certificate ID');
      const rootKeyID = await dd.nth(1).locator('code.root-key-id').allTextContents();
      assert.equal(rootKeyID.length, 1);
      assert.match(rootKeyID[0], /^[0-9a-f]{64}$/, 'Root key: its key ID');
      assert.notEqual(rootKeyID[0], nginx.rootKeys[0], 'the key ID is not the certificate ID');
      assert.equal(await admin.getByRole('button', { name: 'Copy root certificate ID' }).getAttribute('data-copy'), nginx.rootKeys[0]);
      assert.equal(await admin.getByRole('button', { name: 'Copy root key ID' }).getAttribute('data-copy'), rootKeyID[0]);
      assert.match(await admin.innerText(), /Key ID[\s\S]*Certificate ID/, 'each ID is labelled');

      // Metadata expiry: every role, all valid (fresh metadata).
      const expiry = await tableRows(s.page.locator('#expiry table'));
      const roles = expiry.map((r) => r[0]);
      for (const r of ['root', 'targets', 'snapshot', 'timestamp', 'targets/releases', 'targets/jeff', 'targets/ian']) {
        assert.ok(roles.includes(r), `expiry of ${r} listed: ${JSON.stringify(roles)}`);
      }
      for (const r of expiry) assert.equal(r[3], 'valid', `${r[0]} is valid: ${JSON.stringify(r)}`);
    });
  });

  it('the signers of a tag read "ian, jeff", as docker trust inspect --pretty prints them', async (t) => {
    await seed();
    await withSession(env, 'trust-signer-order', async (s) => {
      await s.login();
      await s.goto('/repositories/prod/nginx');
      await s.shot('signers-of-tag-1');
      const shown = (await tableRows(s.page.locator('#signed-tags table.tags')))[0][2];
      const pretty = await s.page.locator('#pretty pre.pretty').textContent();
      const inPretty = pretty.match(/^1 +[0-9a-f]{64} +(.+)$/m)?.[1];
      assert.equal(inPretty, 'ian, jeff', 'the pretty text sorts the signers');
      assert.equal(shown, 'ian, jeff', 'the table shows the signers as the pretty text does');
    });
  });

  it('a tag only in a signer\'s role appears under "Signed but not released"', async () => {
    const { nginx } = await seed();
    await withSession(env, 'trust-unreleased', async (s) => {
      await s.login();
      await s.goto('/repositories/prod/nginx');
      const section = s.page.locator('#unreleased');
      await section.scrollIntoViewIfNeeded();
      await s.shot('signed-but-not-released');
      assert.equal(await section.getByRole('heading', { level: 2 }).innerText(), 'Signed but not released');
      assert.deepEqual(await tableRows(section.locator('table')),
        [['only-jeff', `sha256:${nginx.digests['only-jeff'].slice(0, 12)}… Copy`, 'targets/jeff']]);
      assert.equal(await section.locator('code.digest').getAttribute('title'), `sha256:${nginx.digests['only-jeff']}`);
      assert.ok(!(await signedTagNames(s.page)).includes('only-jeff'), 'only-jeff is not a signed tag');
      // The unreleased tag is a link to its tag view.
      assert.equal(await section.getByRole('link', { name: 'only-jeff' }).getAttribute('href'), '/repositories/prod/nginx/tags?tag=only-jeff');
      // A tag nobody signed is no tag: 404.
      assert.equal((await s.goto('/repositories/prod/nginx/tags?tag=no-such-tag')).status(), 404);
      assert.match(await s.page.getByRole('alert').innerText(), /has no tag “no-such-tag”/);

      // Its tag view says it is not released.
      await s.goto(`/repositories/prod/nginx/tags?tag=only-jeff`);
      await s.shot('only-jeff-tag-view');
      assert.deepEqual(await tableRows(s.page.locator('main table')),
        [['targets/jeff', 'jeff', `${nginx.digests['only-jeff']} Copy`, String('nginx:only-jeff manifest'.length)]]);
      assert.match(await s.page.locator('main .warn').innerText(), /neither targets\/releases nor targets signs the tag/);
    }, { expectedStatuses: [404] });
  });

  it("the tag view shows each role's digest", async () => {
    const { nginx } = await seed();
    await withSession(env, 'trust-tag-view', async (s) => {
      await s.login();
      await s.goto('/repositories/prod/nginx');
      await s.shot('repository-page');
      await s.navigate(() => s.page.locator('#signed-tags table.tags').getByRole('link', { name: '1', exact: true }).click());
      await s.shot('tag-1');
      const url = new URL(s.page.url());
      assert.equal(url.pathname, '/repositories/prod/nginx/tags');
      assert.equal(url.searchParams.get('tag'), '1');
      assert.equal(await s.page.locator('h1 .tagname').textContent(), '1');
      const rows = await tableRows(s.page.locator('main table'));
      const byRole = Object.fromEntries(rows.map((r) => [r[0].split(' ')[0], r]));
      assert.deepEqual(Object.keys(byRole).sort(), ['targets/ian', 'targets/jeff', 'targets/releases']);
      const size = String('nginx:1 manifest'.length);
      const signedBy = { 'targets/ian': 'ian', 'targets/jeff': 'jeff', 'targets/releases': "ian, jeff (any signer's key in targets/releases)" };
      for (const role of Object.keys(byRole)) {
        const shown = role === 'targets/releases' ? `${role} docker pulls this` : role;
        assert.deepEqual(byRole[role], [shown, signedBy[role], `${nginx.digests['1']} Copy`, size], `${role}'s entry`);
      }
      for (const b of await s.page.locator('main table').getByRole('button', { name: 'Copy digest' }).all()) {
        assert.equal(await b.getAttribute('data-copy'), nginx.digests['1']);
      }
      assert.equal(await s.page.getByRole('alert').count(), 0, 'the roles agree: no disagreement alert');
      assert.equal(await s.page.locator('main .warn').count(), 0, 'tag 1 is released: no warning');

      // Tag 2: releases and jeff only.
      await s.goto('/repositories/prod/nginx/tags?tag=2');
      await s.shot('tag-2');
      const rows2 = await tableRows(s.page.locator('main table'));
      assert.deepEqual(rows2.map((r) => r[0].split(' ')[0]).sort(), ['targets/jeff', 'targets/releases']);
      for (const r of rows2) assert.equal(r[2], `${nginx.digests['2']} Copy`);

      // The breadcrumb leads back to the repository.
      await s.navigate(() => s.page.locator('nav.crumbs').getByRole('link', { name: 'prod/nginx' }).click());
      assert.equal(s.pathname(), '/repositories/prod/nginx');
      await s.shot('back-to-repository');
    });
  });

  it('the filters (by signer, by tag) and the sort of the signed tags work', async () => {
    const { nginx } = await seed();
    await withSession(env, 'trust-filter', async (s) => {
      await s.login();
      await s.goto('/repositories/prod/nginx');
      const signer = s.page.getByLabel('Signer', { exact: true });
      const options = await signer.locator('option').evaluateAll((os) => os.map((o) => o.value));
      assert.deepEqual(options, ['', 'ian', 'jeff'], 'the signer filter offers any and each signer');

      await signer.selectOption('ian');
      await s.shot('signer-ian-selected');
      await s.navigate(() => s.page.getByRole('button', { name: 'Filter' }).click());
      await s.shot('filtered-by-ian');
      assert.equal(new URL(s.page.url()).searchParams.get('signer'), 'ian');
      assert.deepEqual(await signedTagNames(s.page), ['1'], 'ian signed only tag 1');
      assert.equal(await s.page.getByLabel('Signer', { exact: true }).inputValue(), 'ian', 'the choice is kept');

      await s.page.getByLabel('Signer', { exact: true }).selectOption('jeff');
      await s.navigate(() => s.page.getByRole('button', { name: 'Filter' }).click());
      await s.shot('filtered-by-jeff');
      assert.deepEqual(await signedTagNames(s.page), ['1', '2'], 'jeff signed tags 1 and 2');

      // Tag filter and signer filter together.
      await s.page.getByLabel('Tag contains', { exact: true }).fill('2');
      await s.navigate(() => s.page.getByRole('button', { name: 'Filter' }).click());
      await s.shot('filtered-by-jeff-and-tag-2');
      assert.deepEqual(await signedTagNames(s.page), ['2']);

      await s.page.getByLabel('Signer', { exact: true }).selectOption('ian');
      await s.navigate(() => s.page.getByRole('button', { name: 'Filter' }).click());
      await s.shot('filtered-nothing-matches');
      assert.deepEqual(await signedTagNames(s.page), []);
      assert.match(await s.page.locator('#signed-tags .empty').innerText(), /No signed tag matches the filter/);

      // Sort: by the signers column as shown, ascending then descending; by digest; by tag descending.
      await s.goto('/repositories/prod/nginx');
      const bySigners = (await tableRows(s.page.locator('#signed-tags table.tags')))
        .sort((a, b) => (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0)).map((r) => r[0]);
      const header = (label) => s.page.locator('#signed-tags thead').getByRole('link', { name: new RegExp(`^${label}`) });
      await s.navigate(() => header('Signers').click());
      await s.shot('sorted-by-signers');
      assert.equal(new URL(s.page.url()).searchParams.get('sort'), 'signers');
      assert.deepEqual(await signedTagNames(s.page), bySigners);
      assert.equal(await header('Signers').getAttribute('aria-sort'), 'ascending');
      await s.navigate(() => header('Signers').click());
      await s.shot('sorted-by-signers-descending');
      assert.equal(new URL(s.page.url()).searchParams.get('sort'), '-signers');
      assert.deepEqual(await signedTagNames(s.page), [...bySigners].reverse());
      assert.equal(await header('Signers').getAttribute('aria-sort'), 'descending');
      await s.navigate(() => header('Digest').click());
      await s.shot('sorted-by-digest');
      const byDigest = ['1', '2'].sort((a, b) => (nginx.digests[a] < nginx.digests[b] ? -1 : 1));
      assert.deepEqual(await signedTagNames(s.page), byDigest);
      await s.goto('/repositories/prod/nginx?sort=-tag');
      await s.shot('sorted-by-tag-descending');
      assert.deepEqual(await signedTagNames(s.page), ['2', '1']);
    });
  });

  it('the pretty text on the page equals GET /api/v1/trust/inspect?pretty=1', async () => {
    const { nginx, edge, fresh } = await seed();
    await withSession(env, 'trust-pretty', async (s) => {
      await s.login();
      for (const [repo, gun] of [['prod/nginx', nginx.gun], ['prod/edge', edge.gun], ['prod/fresh', fresh.gun]]) {
        const api = await apiGet(env.server, `/api/v1/trust/inspect?ref=${encodeURIComponent(gun)}&pretty=1`);
        assert.equal(api.status, 200, `inspect ${gun}: ${api.body}`);
        assert.match(api.headers['content-type'], /^text\/plain/);
        await s.goto(`/repositories/${repo}`);
        const pretty = s.page.locator('#pretty');
        await pretty.scrollIntoViewIfNeeded();
        await s.shot(`pretty-${repo.split('/')[1]}`);
        assert.equal(await pretty.locator('pre.pretty').textContent(), api.body, `${repo}: the page's text is the API's`);
        assert.equal(await pretty.getByRole('button', { name: 'Copy' }).getAttribute('data-copy'), api.body, `${repo}: Copy gives the same text`);
        assert.match(await pretty.innerText(), new RegExp(`docker trust inspect --pretty ${gun.replace(/\./g, '\\.')}`));
      }
      // The seed's example, as docker prints it.
      const api = await apiGet(env.server, `/api/v1/trust/inspect?ref=${encodeURIComponent(nginx.gun)}&pretty=1`);
      assert.match(api.body, new RegExp(`\\n1 +${nginx.digests['1']} +ian, jeff\\n`));
      assert.match(api.body, new RegExp(`\\n  Root Key:\\t${nginx.rootKeys[0]}\\n`));
      // The initialised repository without tags.
      const freshApi = await apiGet(env.server, `/api/v1/trust/inspect?ref=${encodeURIComponent(fresh.gun)}&pretty=1`);
      assert.ok(freshApi.body.startsWith(`\nNo signatures for ${fresh.gun}\n\n`), freshApi.body);
    });
  });

  it('the list shows each repository\'s trust state; filter and sort work', async () => {
    const { nginx } = await seed();
    await withSession(env, 'trust-list', async (s) => {
      await s.login();
      // Summaries are computed in the background after each publish: wait for the final states.
      const want = {
        'prod/edge': '4 signed',
        'prod/fresh': 'initialised, no signed tags',
        'prod/nginx': '2 signed',
        'prod/plain': 'not signed',
      };
      const readRows = async () => {
        const names = (await s.page.locator('main table tbody tr td:first-child a').allTextContents()).map((t) => t.trim());
        const cells = await tableRows(s.page.locator('main table'));
        return Object.fromEntries(cells.map((r, i) => [names[i], r]));
      };
      let rows = {};
      for (const deadline = Date.now() + 20_000; ;) {
        await s.goto('/repositories');
        rows = await readRows();
        if (Object.entries(want).every(([repo, state]) => rows[repo]?.[1] === state)) break;
        assert.ok(Date.now() < deadline, `trust states in the list: ${JSON.stringify(rows)}`);
        await s.page.waitForTimeout(250);
      }
      await s.shot('repositories-trust-states');
      assert.equal(rows['prod/nginx'][0], `prod/nginx${nginx.gun}`, 'the row names the repository and its GUN');
      const date = /^\d{4}-\d\d-\d\d \d\d:\d\d UTC/;
      // Signers count, nearest expiry (with role and badge), last signed.
      assert.equal(rows['prod/nginx'][2], '2');
      assert.equal(rows['prod/edge'][2], '3');
      assert.equal(rows['prod/fresh'][2], '2');
      assert.equal(rows['prod/plain'][2], '');
      for (const repo of ['prod/nginx', 'prod/edge', 'prod/fresh']) {
        assert.match(rows[repo][3], date, `${repo}: nearest expiry`);
        assert.match(rows[repo][3], /\((root|targets|snapshot|targets\/[a-z]+)\) ?valid$/, `${repo}: expiry role and badge`);
        assert.match(rows[repo][4], date, `${repo}: last signed`);
      }
      assert.equal(rows['prod/plain'][3], '', 'no trust data: no expiry');
      assert.equal(rows['prod/plain'][4], '—', 'no trust data: never signed');

      const listed = async () => (await s.page.locator('main table tbody tr td:first-child a').allTextContents()).map((t) => t.trim());
      const choose = async (filter, sort, shot) => {
        await s.goto('/repositories');
        await s.page.getByLabel('Show', { exact: true }).selectOption(filter);
        await s.page.getByLabel('Sort by', { exact: true }).selectOption(sort);
        await s.navigate(() => s.page.getByRole('button', { name: 'Search', exact: true }).click());
        await s.shot(shot);
        const url = new URL(s.page.url());
        assert.equal(url.searchParams.get('filter'), filter);
        assert.equal(url.searchParams.get('sort'), sort);
        assert.equal(await s.page.getByLabel('Show', { exact: true }).inputValue(), filter, 'the filter choice is kept');
        assert.equal(await s.page.getByLabel('Sort by', { exact: true }).inputValue(), sort, 'the sort choice is kept');
        return listed();
      };
      assert.deepEqual(await choose('signed', 'name', 'filter-signed'), ['prod/edge', 'prod/nginx']);
      assert.deepEqual(await choose('unsigned', 'name', 'filter-unsigned'), ['prod/fresh', 'prod/plain']);
      assert.deepEqual(await choose('expiring', 'name', 'filter-expiring'), [], 'nothing expires within 30 days');
      // Seeded in the order plain, fresh, nginx, edge: the latest signature first, never signed last;
      // the earliest metadata expires first, no trust data last.
      assert.deepEqual(await choose('', 'signed', 'sort-last-signed'), ['prod/edge', 'prod/nginx', 'prod/fresh', 'prod/plain']);
      assert.deepEqual(await choose('', 'expiry', 'sort-nearest-expiry'), ['prod/fresh', 'prod/nginx', 'prod/edge', 'prod/plain']);
      assert.deepEqual(await choose('', 'name', 'sort-name'), ['prod/edge', 'prod/fresh', 'prod/nginx', 'prod/plain']);

      // Each state's page: no trust data, initialised without tags.
      await s.navigate(() => s.page.getByRole('link', { name: 'prod/plain' }).click());
      await s.shot('plain-no-trust-data');
      assert.equal(await s.page.locator('#trust h2').innerText(), 'No trust data');
      await s.goto('/repositories/prod/fresh');
      await s.shot('fresh-initialised-no-tags');
      assert.match(await s.page.locator('#signed-tags .empty').innerText(), /No signatures for/);
      assert.deepEqual((await tableRows(s.page.locator('#signers table'))).map((r) => r[0]), ['ian', 'jeff']);
    });
  });

  it('a list filter that matches nothing says so (not "No repositories yet")', async (t) => {
    await seed();
    await withSession(env, 'trust-list-empty-filter', async (s) => {
      await s.login();
      await s.goto('/repositories?filter=expiring');
      await s.shot('filter-expiring-matches-nothing');
      assert.equal(await s.page.locator('main table tbody tr').count(), 0, 'nothing expires within 30 days');
      const text = (await s.page.locator('main .empty').innerText()).trim();
      assert.doesNotMatch(text, /No repositories yet|Create the first one/, 'the empty state does not claim there are no repositories');
    });
  });

  it('hostile, 2,000-character and non-ASCII tag names render as inert text', async () => {
    const { edge } = await seed();
    await withSession(env, 'trust-hostile', async (s) => {
      const dialogs = watchDialogs(s);
      await s.login();
      const res = await s.goto('/repositories/prod/edge');
      await s.shot('edge-repository-page');
      assert.equal(res.status(), 200);
      await assertNoInjection(s, dialogs, 'the repository page');

      // Every tag is in the table as its exact text, in docker's natural order.
      const released = [TAG_IMG, TAG_SCRIPT, TAG_LONG, TAG_UNICODE];
      assert.deepEqual(await signedTagNames(s.page), released);
      assert.equal((await signedTagNames(s.page))[2].length, 2000);
      const rows = s.page.locator('#signed-tags table.tags tbody tr');
      for (const [i, tag] of released.entries()) {
        const cells = await rows.nth(i).locator('td').allTextContents();
        assert.equal(cells[1].replace(/\s*Copy$/, '').trim(), `sha256:${edge.digests[tag].slice(0, 12)}…`, `digest of ${tag.slice(0, 40)}`);
        assert.equal(await rows.nth(i).locator('code.digest').getAttribute('title'), `sha256:${edge.digests[tag]}`);
        assert.equal(cells[2].trim(), 'jeff');
        const href = await rows.nth(i).locator('td.tagname a').getAttribute('href');
        const u = new URL(href, env.server.baseURL);
        assert.equal(u.pathname, '/repositories/prod/edge/tags');
        assert.equal(u.searchParams.get('tag'), tag, 'the tag link carries the exact tag');
      }
      // The hostile tag only jeff signed is text in "Signed but not released".
      assert.deepEqual(await tableRows(s.page.locator('#unreleased table')),
        [[TAG_HIDDEN, `sha256:${edge.digests[TAG_HIDDEN].slice(0, 12)}… Copy`, 'targets/jeff']]);
      // The signer with a plain public key.
      const signers = await tableRows(s.page.locator('#signers table'));
      const ops = signers.find((r) => r[0] === 'ops');
      assert.ok(ops, JSON.stringify(signers));
      assert.equal(ops[2], 'public key');
      assert.equal(ops[3], '', 'a public key has no subject');
      assert.equal(ops[4], '', 'a public key has no expiry');
      // The pretty text holds the tags as text too.
      const pretty = await s.page.locator('#pretty pre.pretty').textContent();
      for (const tag of released) assert.ok(pretty.includes(tag), `pretty text lists ${tag.slice(0, 40)}`);

      // The tag view of each: the tag as text in the heading and the title, no injection.
      for (const [tag, name] of [[TAG_SCRIPT, 'script'], [TAG_IMG, 'img'], [TAG_UNICODE, 'non-ascii'], [TAG_LONG, 'long']]) {
        await s.goto('/repositories/prod/edge');
        const link = s.page.locator('#signed-tags td.tagname a').filter({ hasText: tag.slice(0, 30) });
        await s.navigate(() => link.first().click());
        await s.shot(`tag-view-${name}`);
        assert.equal(new URL(s.page.url()).searchParams.get('tag'), tag);
        assert.equal(await s.page.locator('h1 .tagname').textContent(), tag, `heading shows ${name} tag as text`);
        assert.ok((await s.page.title()).includes(tag), `title holds the ${name} tag as text`);
        const entries = await tableRows(s.page.locator('main table'));
        assert.deepEqual(entries.map((r) => r[0].split(' ')[0]).sort(), ['targets/jeff', 'targets/releases']);
        for (const r of entries) assert.equal(r[2], `${edge.digests[tag]} Copy`);
        await assertNoInjection(s, dialogs, `the tag view of the ${name} tag`);
      }

      // The unreleased hostile tag's view, and filters that echo hostile text back.
      await s.goto(`/repositories/prod/edge/tags?tag=${encodeURIComponent(TAG_HIDDEN)}`);
      await s.shot('tag-view-unreleased-hostile');
      assert.equal(await s.page.locator('h1 .tagname').textContent(), TAG_HIDDEN);
      await assertNoInjection(s, dialogs, 'the tag view of the unreleased hostile tag');

      await s.goto('/repositories/prod/edge');
      await s.page.getByLabel('Tag contains', { exact: true }).fill('<script>');
      await s.navigate(() => s.page.getByRole('button', { name: 'Filter' }).click());
      await s.shot('filter-by-hostile-text');
      assert.deepEqual(await signedTagNames(s.page), [TAG_SCRIPT]);
      assert.equal(await s.page.getByLabel('Tag contains', { exact: true }).inputValue(), '<script>');
      await assertNoInjection(s, dialogs, 'the filtered repository page');

      await s.goto(`/repositories/prod/edge?tag=${encodeURIComponent(TAG_IMG)}`);
      await s.shot('filter-by-hostile-img');
      assert.deepEqual(await signedTagNames(s.page), [TAG_IMG]);
      assert.equal(await s.page.getByLabel('Tag contains', { exact: true }).inputValue(), TAG_IMG);
      await assertNoInjection(s, dialogs, 'the page filtered by the img tag');
    });
  });
});
