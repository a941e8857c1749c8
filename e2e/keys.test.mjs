// Key safety: after initialising trust, "Remove the root key from the vault" needs the download first
// or a typed confirmation that says the key cannot be recovered; the key vault names each root key's
// repository, marks rotated-out (superseded) keys and root keys nobody downloaded, and shows a root
// key's two IDs labelled.
//
// Screenshots: e2e/artifacts/keys-*.png
import assert from 'node:assert/strict';
import { api } from './lib/server.mjs';
import { browserSuite, withSession } from './lib/suite.mjs';

const ROOT_PASSPHRASE = 'root-passphrase-of-keysafe';
const REPO_PASSPHRASE = 'repository-passphrase-of-keysafe';

/** The vault as the API lists it: [{ id, role, made_for, exported_at }]. */
async function vault(server) {
  const res = await api(server, 'GET', '/api/v1/keys');
  assert.equal(res.status, 200, res.body);
  return res.json.keys;
}

browserSuite('keys', (env, it) => {
  it('the root key leaves the vault only after a download or a typed confirmation that it is lost', async () => {
    const created = await api(env.server, 'POST', '/api/v1/repositories', { body: { namespace: 'prod', name: 'keysafe' } });
    assert.equal(created.status, 201, created.body);
    await withSession(env, 'keys-remove-root', async (s) => {
      await s.login();
      await s.goto('/repositories/prod/keysafe/trust/new');
      await s.page.getByLabel('Root key passphrase', { exact: true }).fill(ROOT_PASSPHRASE);
      await s.page.getByLabel('Repeat Root key passphrase', { exact: true }).fill(ROOT_PASSPHRASE);
      await s.page.getByLabel('Repository key passphrase', { exact: true }).fill(REPO_PASSPHRASE);
      await s.page.getByLabel('Repeat Repository key passphrase', { exact: true }).fill(REPO_PASSPHRASE);
      const done = await s.navigate(() => s.page.getByRole('button', { name: 'Initialise trust' }).click());
      await s.shot('initialised');
      assert.equal(done.status(), 201);
      const rootId = (await s.page.locator('main code.root-key-id').innerText()).trim();
      assert.match(rootId, /^[0-9a-f]{64}$/);
      assert.match(await s.page.locator('main code.root-cert-id').innerText(), /^[0-9a-f]{64}$/, 'the certificate ID too');
      assert.match(await s.page.locator('main').innerText(), /Key ID[\s\S]*Certificate ID/, 'both labelled');

      // Straight to "Remove": refused, the key stays, the page says why and offers the download.
      const refused = await s.navigate(() => s.page.getByRole('button', { name: 'Remove the root key from the vault' }).click());
      await s.shot('remove-refused');
      assert.equal(refused.status(), 400);
      assert.match(await s.page.locator('#form-problems').innerText(), /never downloaded: removed from the vault it cannot be recovered/);
      const confirm = s.page.getByLabel(/Type its ID, [0-9a-f]{12}, to confirm that it will be lost/);
      assert.equal(await confirm.getAttribute('aria-invalid'), 'true');
      assert.equal(await s.page.getByRole('link', { name: 'Download the key' }).getAttribute('href'), `/keys/${rootId}/download`);
      assert.ok((await vault(env.server)).some((k) => k.id === rootId), 'the root key is still in the vault');

      // A wrong confirmation changes nothing either.
      await confirm.fill(rootId.slice(0, 11));
      const wrong = await s.navigate(() => s.page.getByRole('button', { name: 'Remove the key from the vault' }).click());
      assert.equal(wrong.status(), 400);
      assert.ok((await vault(env.server)).some((k) => k.id === rootId), 'still in the vault');

      // Its ID typed: removed, back on the repository page.
      await s.page.getByLabel(/Type its ID/).fill(rootId.slice(0, 12));
      const removed = await s.navigate(() => s.page.getByRole('button', { name: 'Remove the key from the vault' }).click());
      await s.shot('removed');
      assert.equal(removed.status(), 200);
      assert.equal(s.pathname(), '/repositories/prod/keysafe');
      assert.match(await s.page.getByRole('status').first().innerText(), new RegExp(`Key ${rootId} removed from the vault`));
      assert.ok(!(await vault(env.server)).some((k) => k.id === rootId), 'the root key is gone');
    }, { expectedStatuses: [400] });
  });

  it('on a phone, the vault names each root key\'s repository and marks the rotated-out one superseded', async () => {
    const created = await api(env.server, 'POST', '/api/v1/repositories', { body: { namespace: 'prod', name: 'rotated' } });
    assert.equal(created.status, 201, created.body);
    const init = await api(env.server, 'POST', '/api/v1/repositories/prod/rotated/trust',
      { body: { root_passphrase: ROOT_PASSPHRASE, repository_passphrase: REPO_PASSPHRASE } });
    assert.equal(init.status, 201, init.body);
    const oldRoot = init.json.root_key_id;
    const rotated = await api(env.server, 'POST', '/api/v1/repositories/prod/rotated/trust/rotate-root',
      { body: { root_passphrase: ROOT_PASSPHRASE, new_root_passphrase: 'new-root-passphrase' } });
    assert.equal(rotated.status, 200, rotated.body);
    const newRoot = rotated.json.root_key_id;
    const gun = `${env.server.hostPort}/prod/rotated`;

    await withSession(env, 'keys-vault-390', async (s) => {
      await s.page.setViewportSize({ width: 390, height: 844 });
      await s.login();
      await s.goto('/keys');
      await s.shot('vault');
      const row = (id) => s.page.locator(`#key-${id}`);
      assert.match(await row(oldRoot).innerText(), new RegExp(`${gun.replace(/\./g, '\\.')}[\\s\\S]*superseded`), 'old root: its repository, superseded');
      assert.match(await row(oldRoot).innerText(), /never downloaded/);
      assert.match(await row(newRoot).innerText(), /in use/, 'new root: in use');
      assert.match(await row(newRoot).innerText(), new RegExp(gun.replace(/\./g, '\\.')));
      assert.match(await row(newRoot).locator('.cert-id').innerText(), /^certificate [0-9a-f]{12}$/, 'its certificate ID, labelled');
      assert.equal(await s.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true, 'the vault fits the phone');
    });
  });
});
