// Feedback you can see: after adding a signer, renewing a role and rotating the root key, the browser
// lands on the success notice, in the section that changed, with what changed highlighted; a refused
// form shows every problem at once, each at its field (aria-invalid, aria-describedby), and keeps
// what was typed (the pasted certificate, the signer's name), never the passphrases.
//
// Screenshots: e2e/artifacts/feedback-*.png (what the viewport shows after each action).
import assert from 'node:assert/strict';
import { api } from './lib/server.mjs';
import { seedKeyPair } from './lib/seed.mjs';
import { browserSuite, withSession } from './lib/suite.mjs';

const REPO = '/repositories/prod/feedback';
const ROOT_PASSPHRASE = 'root-passphrase-of-feedback';
const REPO_PASSPHRASE = 'repository-passphrase-of-feedback';

/** What the viewport shows (not the full page): e2e/artifacts/feedback-<prefix>-<step>-viewport.png */
async function viewportShot(s, step) {
  const file = await s.shot(step);
  await s.page.screenshot({ path: file.replace(/\.png$/, '-viewport.png') });
}

/** Whether the element is wholly inside the viewport (the user sees it without scrolling). */
function inViewport(locator) {
  return locator.evaluate((el) => {
    const r = el.getBoundingClientRect();
    return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0;
  });
}

/** The field's problem: aria-invalid, and the text of what describes it first. */
async function fieldProblem(page, id) {
  return page.locator(`#${id}`).evaluate((el) => ({
    invalid: el.getAttribute('aria-invalid'),
    problem: document.getElementById((el.getAttribute('aria-describedby') || '').split(' ')[0])?.textContent.trim() ?? null,
  }));
}

/** The notice the page landed on: visible, in the viewport, inside section `section`. */
async function assertLandedOnNotice(s, section, says) {
  assert.match(new URL(s.page.url()).hash, /^#notice$/, 'the redirect lands on the notice');
  const notice = s.page.locator('#notice');
  assert.match(await notice.innerText(), says);
  assert.equal(await notice.getAttribute('role'), 'status');
  assert.equal(await s.page.locator(`#${section} #notice`).count(), 1, `the notice is in #${section}`);
  assert.ok(await inViewport(notice), 'the notice is in the viewport');
}

browserSuite('feedback', (env, it) => {
  let ready = null;
  function repository() {
    ready ??= (async () => {
      const created = await api(env.server, 'POST', '/api/v1/repositories', { body: { namespace: 'prod', name: 'feedback' } });
      assert.equal(created.status, 201, created.body);
      const init = await api(env.server, 'POST', '/api/v1/repositories/prod/feedback/trust',
        { body: { root_passphrase: ROOT_PASSPHRASE, repository_passphrase: REPO_PASSPHRASE } });
      assert.equal(init.status, 201, init.body);
    })();
    return ready;
  }

  it('add signer: every problem at once at its field, the pasted certificate kept; then the notice beside the new signer', async () => {
    await repository();
    const jeff = await seedKeyPair('jeff');
    await withSession(env, 'feedback-add-signer', async (s) => {
      await s.login();
      await s.goto(`${REPO}/signers/new`);
      await s.page.getByLabel('Signer name', { exact: true }).fill('Bad Name');
      await s.page.getByLabel('…or paste it (PEM)', { exact: true }).fill(jeff.cert);
      // The server's checks, not the browser's: submit as a browser without constraint validation.
      await s.page.locator('main form').evaluate((f) => { f.noValidate = true; });
      const refused = await s.navigate(() => s.page.getByRole('button', { name: 'Add signer' }).click());
      await s.shot('two-problems');
      assert.equal(refused.status(), 400);
      const summary = s.page.locator('#form-problems');
      assert.equal(await summary.getAttribute('role'), 'alert');
      assert.match(await summary.innerText(), /2 problems/);
      assert.deepEqual(await summary.locator('li a').evaluateAll((as) => as.map((a) => a.getAttribute('href'))),
        ['#signer', '#repository_passphrase'], 'each problem links to its field');
      assert.deepEqual(await fieldProblem(s.page, 'signer'),
        { invalid: 'true', problem: (await s.page.locator('#signer-error').innerText()).trim() });
      assert.match((await fieldProblem(s.page, 'signer')).problem, /Signer names must start with a lowercase letter/);
      assert.match((await fieldProblem(s.page, 'repository_passphrase')).problem, /passphrase of the repository key/);
      assert.equal((await fieldProblem(s.page, 'public_key')).invalid, null, 'the certificate is fine');
      assert.equal(await s.page.getByLabel('Signer name', { exact: true }).inputValue(), 'Bad Name', 'the name is kept');
      assert.equal(await s.page.getByLabel('…or paste it (PEM)', { exact: true }).inputValue(), jeff.cert, 'the pasted PEM is kept');

      // A wrong passphrase: the problem is the passphrase's; the certificate is still there.
      await s.page.getByLabel('Signer name', { exact: true }).fill('jeff');
      await s.page.getByLabel('Repository key passphrase', { exact: true }).fill(`${REPO_PASSPHRASE}-wrong`);
      const wrong = await s.navigate(() => s.page.getByRole('button', { name: 'Add signer' }).click());
      await s.shot('wrong-passphrase');
      assert.equal(wrong.status(), 400);
      assert.match((await fieldProblem(s.page, 'repository_passphrase')).problem, /Wrong passphrase/);
      assert.equal(await s.page.getByLabel('Repository key passphrase', { exact: true }).inputValue(), '', 'no passphrase echoed');
      assert.equal(await s.page.getByLabel('…or paste it (PEM)', { exact: true }).inputValue(), jeff.cert, 'the pasted PEM is kept');

      await s.page.getByLabel('Repository key passphrase', { exact: true }).fill(REPO_PASSPHRASE);
      const added = await s.navigate(() => s.page.getByRole('button', { name: 'Add signer' }).click());
      await viewportShot(s, 'landed');
      assert.equal(added.status(), 200);
      await assertLandedOnNotice(s, 'signers', /Signer jeff added\./);
      const row = s.page.locator('#signer-jeff');
      assert.match(await row.getAttribute('class'), /\bchanged\b/, 'the new signer is highlighted');
      assert.match(await row.innerText(), /added/);
      assert.ok(await inViewport(row), 'the new signer is in the viewport too');
    }, { expectedStatuses: [400] });
  });

  it('renew targets on a phone: the notice and the renewed role are where the user lands', async () => {
    await repository();
    await withSession(env, 'feedback-renew-390', async (s) => {
      await s.page.setViewportSize({ width: 390, height: 844 });
      await s.login();
      await s.goto(REPO);
      await s.navigate(() => s.page.getByRole('link', { name: 'Renew targets' }).click());
      await s.page.getByLabel('Key passphrase', { exact: true }).fill(REPO_PASSPHRASE);
      const renewed = await s.navigate(() => s.page.getByRole('button', { name: 'Renew targets' }).click());
      await viewportShot(s, 'landed');
      assert.equal(renewed.status(), 200);
      await assertLandedOnNotice(s, 'expiry', /targets renewed: version \d+, expires/);
      const row = s.page.locator('#role-targets');
      assert.match(await row.getAttribute('class'), /\bchanged\b/, 'the renewed role is highlighted');
      assert.match(await row.innerText(), /updated/);
    });
  });

  it('rotate root: the notice beside the new root key', async () => {
    await repository();
    await withSession(env, 'feedback-rotate-root', async (s) => {
      await s.login();
      await s.goto(`${REPO}/trust/rotate-root`);
      // Problems of both fieldsets at once: no current passphrase, new ones that differ.
      await s.page.getByLabel('Passphrase for the new root key', { exact: true }).fill('new-root-passphrase');
      await s.page.getByLabel('Repeat the new passphrase', { exact: true }).fill('new-root-passphrase-typo');
      await s.page.locator('main form').evaluate((f) => { f.noValidate = true; });
      const refused = await s.navigate(() => s.page.getByRole('button', { name: 'Rotate root key' }).click());
      await s.shot('two-problems');
      assert.equal(refused.status(), 400);
      assert.match((await fieldProblem(s.page, 'root_passphrase')).problem, /passphrase of the current root key/);
      assert.match((await fieldProblem(s.page, 'new_root_passphrase_confirm')).problem, /differ/);

      await s.page.getByLabel('Root key passphrase', { exact: true }).fill(ROOT_PASSPHRASE);
      await s.page.getByLabel('Passphrase for the new root key', { exact: true }).fill('new-root-passphrase');
      await s.page.getByLabel('Repeat the new passphrase', { exact: true }).fill('new-root-passphrase');
      const rotated = await s.navigate(() => s.page.getByRole('button', { name: 'Rotate root key' }).click());
      await viewportShot(s, 'landed');
      assert.equal(rotated.status(), 200);
      await assertLandedOnNotice(s, 'admin-keys', /Root key rotated: new root key [0-9a-f]{64}/);
      assert.match(await s.page.locator('#root-key').getAttribute('class'), /\bchanged\b/, 'the root key is highlighted');
      assert.ok(await inViewport(s.page.locator('#root-key')), 'the new root key is in the viewport');
    }, { expectedStatuses: [400] });
  });
});
