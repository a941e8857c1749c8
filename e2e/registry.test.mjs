// The registry connection in the browser: Debian's docker-registry (the configuration of the Go
// tests, internal/testregistry) with trustdeck as its token realm and notification endpoint; the
// seed (e2e/seed, registry scenario) pushes images with go-containerregistry and signs some with
// notary's client library, then moves one signed tag and deletes another. The repository page opens
// with the summary of tag states, the tags table shows and filters them, the tag view shows both
// digests and an index's platforms, the list shows the counts, and a stopped registry shows as such
// and recovers without a restart.
import assert from 'node:assert/strict';
import { REGISTRY_BIN, apiJSON, registryMissing, sleep, startRegistryWorld } from './lib/registry.mjs';
import { browserSuite, withSession } from './lib/suite.mjs';

let registry = null;
let world = null; // what the seed made, and the registry's address

async function start(slug) {
  const made = await startRegistryWorld(slug);
  ({ registry, world } = made);
  return made.server;
}

/** Waits until the tags API says what `want(tags)` accepts (notifications arrive within a second). */
async function waitForTags(server, want, what) {
  let last = null;
  for (let i = 0; i < 100; i++) {
    last = await apiJSON(server, '/api/v1/repositories/prod/web/tags');
    if (want(last)) return last;
    await sleep(200);
  }
  assert.fail(`${what}: the tags API still says ${JSON.stringify(last)}`);
}

const states = (body) => Object.fromEntries(body.tags.map((t) => [t.name, t.state]));
const WANT_STATES = { multi: 'signed', v1: 'signed', v2: 'drifted', v3: 'missing', v4: 'unsigned' };

browserSuite('registry', (env, it) => {
  it('the repository page opens with the summary of tag states and lists every tag with its state', async (t) => {
    if (registryMissing) return t.skip(`${REGISTRY_BIN} is not installed`);
    const body = await waitForTags(env.server, (b) => JSON.stringify(states(b)) === JSON.stringify(WANT_STATES), 'tag states');
    const v2 = body.tags.find((t) => t.name === 'v2');
    assert.equal(v2.signed_digest, `sha256:${world.digests.v2}`);
    assert.equal(v2.registry_digest, world.registry.v2);
    await withSession(env, 'registry-summary', async (s) => {
      await s.login();
      await s.goto('/repositories/prod/web');
      await s.shot('repository-summary');
      const summary = s.page.locator('#summary');
      const count = async (st) => (await summary.locator(`a[data-state="${st}"] strong`).innerText()).trim();
      assert.deepEqual([await count('signed'), await count('unsigned'), await count('drifted'), await count('missing')],
        ['2', '1', '1', '1']);
      const problems = await summary.locator('ul.problems li').allInnerTexts();
      assert.ok(problems.some((p) => /1 tag moved to another image after signing/.test(p)), `problems: ${problems}`);
      assert.ok(problems.some((p) => /1 signed tag is gone from the registry/.test(p)), `problems: ${problems}`);
      assert.ok(problems.some((p) => /1 tag in the registry is not signed/.test(p)), `problems: ${problems}`);

      const rows = await s.page.locator('#signed-tags table.tags tbody tr').evaluateAll((trs) =>
        trs.map((tr) => [tr.cells[0].textContent.trim(), tr.cells[1].textContent.trim()]));
      assert.deepEqual(Object.fromEntries(rows), WANT_STATES);

      // The drifted count links to the table filtered to the drifted tag.
      await s.navigate(() => summary.locator('a[data-state="drifted"]').click());
      await s.shot('filtered-drifted');
      assert.equal(new URL(s.page.url()).searchParams.get('state'), 'drifted');
      const drifted = await s.page.locator('#signed-tags table.tags tbody td.tagname').allInnerTexts();
      assert.deepEqual(drifted, ['v2']);
      assert.match(await s.page.locator('#signed-tags .pager').innerText(), /Tags 1–1 of 1 matching \(of 5/);
      const pull = await s.page.locator('#signed-tags tbody tr').first().getByRole('button', { name: /Copy docker pull/ }).getAttribute('data-copy');
      assert.equal(pull, `docker pull ${world.regAddr}/prod/web@${world.registry.v2}`);
    });
  });

  it('the tag view shows both digests of a moved tag and the platforms of an index', async (t) => {
    if (registryMissing) return t.skip(`${REGISTRY_BIN} is not installed`);
    await withSession(env, 'registry-tag', async (s) => {
      await s.login();
      await s.goto('/repositories/prod/web/tags?tag=v2');
      await s.shot('tag-drifted');
      assert.equal(await s.page.locator('#registry-digest').innerText(), world.registry.v2);
      assert.equal(await s.page.locator('#signed-digest').innerText(), `sha256:${world.digests.v2}`);
      assert.match(await s.page.locator('#registry .alert').innerText(), /content trust still pull the signed digest/);
      await s.goto('/repositories/prod/web/tags?tag=multi');
      await s.shot('tag-index');
      assert.equal(await s.page.locator('#registry .status').first().innerText(), 'signed');
      assert.equal(await s.page.locator('#platforms').innerText(), world.platforms.join(', '));
    });
  });

  it('the list shows unsigned and drifted counts, filters on them, and lists a repository only the registry knows', async (t) => {
    if (registryMissing) return t.skip(`${REGISTRY_BIN} is not installed`);
    await withSession(env, 'registry-list', async (s) => {
      await s.login();
      const [ns, name] = world.unsigned.split('/');
      for (let i = 0; ; i++) {
        await s.goto('/repositories?filter=unsigned-or-drifted');
        if (await s.page.getByRole('link', { name: `${ns}/${name}` }).count() > 0) break;
        assert.ok(i < 50, `${world.unsigned} never showed up in the list (catalog discovery)`);
        await sleep(300);
      }
      await s.shot('list-unsigned-or-drifted');
      const web = s.page.locator('tbody tr', { hasText: 'prod/web' }).first();
      assert.match(await web.innerText(), /1 unsigned/);
      assert.match(await web.innerText(), /1 drifted/);
    });
  });

  it('a stopped registry shows on the page with its cause, and the page recovers when it is back', async (t) => {
    if (registryMissing) return t.skip(`${REGISTRY_BIN} is not installed`);
    await withSession(env, 'registry-down', async (s) => {
      await s.login();
      await registry.stop();
      try {
        let status = '';
        for (let i = 0; i < 60; i++) {
          const res = await s.goto('/repositories/prod/web');
          assert.equal(res.status(), 200);
          status = await s.page.locator('#registry-status').innerText();
          if (/could not be read/.test(status)) break;
          await sleep(500);
        }
        await s.shot('registry-down');
        assert.match(status, /could not be read: .*(refused|unreachable|connect)/i);
        assert.match(status, /unknown since/);
        // The trust views keep working.
        assert.equal(await s.page.locator('#signers table tbody tr').count() > 0, true);
      } finally {
        await registry.start();
      }
      let status = '';
      for (let i = 0; i < 60; i++) {
        await s.goto('/repositories/prod/web');
        status = await s.page.locator('#registry-status').innerText();
        if (/^Registry read/.test(status)) break;
        await sleep(500);
      }
      await s.shot('registry-back');
      assert.match(status, /^Registry read/);
    });
  });
}, registryMissing ? {} : { start });
