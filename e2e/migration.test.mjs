// The migration off Docker Content Trust in the browser, against Debian's docker-registry seeded as
// in registry.test.mjs (prod/web: multi and v1 signed, v2 drifted, v3 missing, v4 unsigned): the
// admin generates prod's cosign and Notation keys on the migration page, opens the repository's
// plan (sign, skip with the reason, unsigned apart), runs it in both formats, watches the progress
// page to the end, and the repository page then reads ✓ cosign and ✓ Notation on the signed tags
// from the registry, and ✗ on the drifted one.
import assert from 'node:assert/strict';
import { REGISTRY_BIN, apiJSON, registryMissing, sleep, startRegistryWorld } from './lib/registry.mjs';
import { browserSuite, withSession } from './lib/suite.mjs';

const PASSPHRASE = 'migration-e2e-passphrase';

async function start(slug) {
  return (await startRegistryWorld(slug)).server;
}

/** Waits until the registry was read for prod/web (the plan compares with it). */
async function waitForRegistry(server) {
  for (let i = 0; i < 100; i++) {
    const body = await apiJSON(server, '/api/v1/repositories/prod/web/tags');
    if (body.tags.some((t) => t.state === 'drifted') && body.tags.some((t) => t.state === 'unsigned')) return;
    await sleep(200);
  }
  assert.fail('the registry was never read for prod/web');
}

browserSuite('migration', (env, it) => {
  it('keys, plan, run with progress, and the ✓ columns read from the registry', async (t) => {
    if (registryMissing) return t.skip(`${REGISTRY_BIN} is not installed`);
    await waitForRegistry(env.server);
    await withSession(env, 'migration', async (s) => {
      await s.login();
      await s.goto('/repositories/prod/web');
      // Before: no cosign or Notation signature anywhere.
      const rowMarks = async () => Object.fromEntries(await s.page.locator('#signed-tags table.tags tbody tr').evaluateAll((trs) =>
        trs.map((tr) => [tr.cells[0].textContent.trim(),
          [tr.querySelector('td.sig-dct')?.textContent.trim(), tr.querySelector('td.sig-cosign')?.textContent.trim(),
            tr.querySelector('td.sig-notation')?.textContent.trim().split(/\s+/).slice(0, 2).join(' ')]])));
      // The page never waits for the registry: digests not read yet say
      // "checking…" while they are read in the background; reload until read.
      const marks = async () => {
        for (let i = 0; i < 50; i++) {
          if (await s.page.locator('#signed-tags .sig.checking').count() === 0) return rowMarks();
          await sleep(200);
          await s.page.reload();
        }
        assert.fail('the signature columns still say checking… after 10 s');
      };
      assert.deepEqual((await marks()).v1, ['✓ DCT', '✗ cosign', '✗ Notation']);

      // Keys: generate prod's cosign key and Notation certificate on the overview.
      await s.navigate(() => s.page.getByRole('link', { name: 'Migration', exact: true }).click());
      const keys = s.page.locator('#keys-prod');
      await keys.getByLabel('Passphrase for the new cosign key').fill(PASSPHRASE);
      await s.navigate(() => keys.getByRole('button', { name: 'Generate cosign key' }).click());
      assert.match(await s.page.locator('.notice').innerText(), /Cosign key generated for prod/);
      await keys.getByLabel('Passphrase for the new notation key').fill(PASSPHRASE);
      await s.navigate(() => keys.getByRole('button', { name: 'Generate notation key' }).click());
      const formats = await keys.locator('table.signing-keys tbody td:first-child').allInnerTexts();
      assert.ok(formats.includes('cosign') && formats.includes('notation'), `keys: ${formats}`);
      const exports = await keys.locator('.exports a').allInnerTexts();
      assert.deepEqual(exports, ['cosign.pub', 'notation-truststore.pem', 'trustpolicy.json', 'kyverno.yaml']);
      const pub = await s.page.request.get(await keys.locator('.exports a', { hasText: 'cosign.pub' }).getAttribute('href'));
      assert.equal(pub.status(), 200);
      assert.match(await pub.text(), /BEGIN PUBLIC KEY/);
      await s.shot('overview-keys');

      // The repository's plan, from its page.
      await s.goto('/repositories/prod/web');
      await s.navigate(() => s.page.locator('#migration-link').click());
      await s.shot('plan');
      const plan = Object.fromEntries(await s.page.locator('table.plan-tags tbody tr').evaluateAll((trs) =>
        trs.map((tr) => [tr.cells[0].textContent.trim(), tr.cells[3].textContent.trim().split(/\s+/).slice(0, 2).join(' ')])));
      assert.deepEqual(plan, { multi: 'sign', v1: 'sign', v2: 'skip: drifted', v3: 'skip: missing' });
      assert.deepEqual(await s.page.locator('ul.unsigned-tags .tagname').allInnerTexts(), ['v4']);
      assert.match(await s.page.locator('#plan-counts').innerText(), /2 to sign, 2 skipped, 1 unsigned/);

      // A wrong passphrase is refused on the page; nothing runs.
      await s.page.locator('#run-passphrase').fill('not-the-passphrase');
      const refused = await s.navigate(() => s.page.getByRole('button', { name: 'Sign', exact: true }).click());
      assert.ok(refused.status() === 400, `wrong passphrase: ${refused.status()}`);
      assert.ok(await s.page.locator('#run-error').isVisible());
      await s.shot('plan-wrong-passphrase');

      // Run it in both formats and watch the progress page to the end.
      await s.page.locator('#run-passphrase').fill(PASSPHRASE);
      await s.navigate(() => s.page.getByRole('button', { name: 'Sign', exact: true }).click());
      assert.match(new URL(s.page.url()).pathname, /^\/migrations\/[0-9a-f]+$/);
      assert.ok(await s.page.locator('progress#progress-bar').isVisible());
      await s.shot('progress');
      let state = '';
      for (let i = 0; i < 120; i++) {
        await s.page.reload(); // the page reloads itself too; a reload reads the store
        state = (await s.page.locator('h1 .status').innerText()).trim();
        if (state !== 'running') break;
        await sleep(500);
      }
      await s.shot('progress-done');
      assert.equal(state, 'done');
      assert.equal(await s.page.locator('progress#progress-bar').getAttribute('value'), '100');
      assert.match(await s.page.locator('#run-counts').innerText(), /4 signed, 2 skipped, 0 failed, 0 pending/);
      const items = await s.page.locator('table.run-items tbody tr').evaluateAll((trs) =>
        trs.map((tr) => [...tr.cells].slice(1, 4).map((c) => c.textContent.trim()).join(' ')));
      for (const want of ['v1 cosign signed', 'v1 notation signed', 'multi notation signed']) {
        assert.ok(items.includes(want), `items ${JSON.stringify(items)} lack ${want}`);
      }
      assert.ok(items.some((i) => /^v2 .*skipped$/.test(i)), `items ${JSON.stringify(items)}: v2 not skipped`);

      // The repository page reads the new signatures from the registry.
      await s.goto('/repositories/prod/web');
      await s.shot('repository-signatures');
      const after = await marks();
      assert.deepEqual(after.v1, ['✓ DCT', '✓ cosign', '✓ Notation']);
      assert.deepEqual(after.multi, ['✓ DCT', '✓ cosign', '✓ Notation']);
      assert.deepEqual(after.v2, ['✗ DCT', '✗ cosign', '✗ Notation']);
      assert.equal(await s.page.locator('#signed-tags tbody tr', { hasText: 'v1' }).first()
        .locator('td.sig-cosign .status').getAttribute('aria-label'), 'cosign signature verified');
      // The tag page names the keys that signed.
      await s.goto('/repositories/prod/web/tags?tag=v1');
      await s.shot('tag-signatures');
      assert.match(await s.page.locator('#signatures').innerText(), /Notation certificate/);
    }, { expectedStatuses: [400] });
  });
}, registryMissing ? {} : { start });
