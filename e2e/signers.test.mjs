// Signer management in the browser ("Manage signer delegations from the browser"): an administrator
// initialises trust for prod/web from its empty state (the root key is downloaded and removed from the
// vault), a user registers his certificate on /profile/keys, the administrator adds him as a signer from
// that registered key and another signer from an uploaded cert.pem, he signs tag 1 (bin/trustdeck-e2e-seed
// with his private key, through the Notary API as docker does), and revoking him shows the impact on tag 1
// and asks for his name. A read-only user sees the signers but none of the controls.
//
// The tests run in order and build on each other (one server for the file).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { ARTIFACTS_DIR, REPO_ROOT, api } from './lib/server.mjs';
import { browserSuite, withSession } from './lib/suite.mjs';

/** Path of the seed program: $TRUSTDECK_SEED_BIN, else <repo>/bin/trustdeck-e2e-seed. */
const SEED_BIN = process.env.TRUSTDECK_SEED_BIN || path.join(REPO_ROOT, 'bin', 'trustdeck-e2e-seed');
const SEED_TIMEOUT_MS = 60_000;

const NS = 'prod';
const NAME = 'web';
const REPO = `/repositories/${NS}/${NAME}`;
const ROOT_PASSPHRASE = 'root-passphrase-of-prod-web';
const REPO_PASSPHRASE = 'repository-passphrase-of-prod-web';
const JEFF = { username: 'jeff', password: 'jeff-password-e2e-1' };
const READER = { username: 'rita', password: 'rita-password-e2e-1' };

/** Runs the seed program with `args`; resolves with what it printed (JSON). */
function runSeed(args, { server } = {}) {
  if (!fs.existsSync(SEED_BIN)) {
    throw new Error(`seed program not built at ${SEED_BIN}: run 'go build -o bin/trustdeck-e2e-seed ./e2e/seed' ` +
      "(make e2e does), or set TRUSTDECK_SEED_BIN");
  }
  return new Promise((resolve, reject) => {
    execFile(SEED_BIN, args, { timeout: SEED_TIMEOUT_MS, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`seed ${args.at(-1)} failed (${err.killed ? `killed after ${SEED_TIMEOUT_MS}ms` : `exit ${err.code}`}):\n` +
          `${stderr}${server ? `\nserver log: ${server.logPath}` : ''}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout));
      } catch (e) {
        reject(new Error(`seed ${args.at(-1)}: stdout is not JSON (${e.message}):\n${stdout}\n${stderr}`));
      }
    });
  });
}

/** A fresh ECDSA P-256 key and self-signed certificate (CN = cn): { cert, key, keyId }. */
function keyPair(cn) {
  return runSeed(['--cn', cn, 'keypair']);
}

/** Creates an account with a role on prod (idempotent per test file: the names are fixed). */
async function createUser(server, { username, password }, role) {
  const created = await api(server, 'POST', '/api/v1/users', { body: { username, password, admin: false } });
  assert.equal(created.status, 201, `create ${username}: ${created.body}`);
  const member = await api(server, 'PUT', `/api/v1/namespaces/${NS}/members/${username}`, { body: { role } });
  assert.equal(member.status, 200, `${role} role on ${NS} for ${username}: ${member.body}`);
}

/**
 * What the API's inspect (docker trust inspect) says about the repository's signers: name → full key
 * IDs, sorted; and the signed tags. null when the repository has no trust data (404).
 */
async function inspect(server, gun) {
  const res = await api(server, 'GET', `/api/v1/trust/inspect?ref=${encodeURIComponent(gun)}`);
  if (res.status === 404) return null;
  assert.equal(res.status, 200, `inspect ${gun}: ${res.body}`);
  assert.equal(res.json.length, 1, res.body);
  const [r] = res.json;
  const signers = Object.fromEntries(r.Signers.map((sg) => [sg.Name, sg.Keys.map((k) => k.ID).sort()]));
  return { signers, tags: r.SignedTags, raw: r };
}

/** The rows of a table body as arrays of trimmed cell texts. */
function tableRows(table) {
  return table.locator('tbody tr').evaluateAll((trs) =>
    trs.map((tr) => [...tr.cells].map((td) => td.textContent.replace(/\s+/g, ' ').trim())));
}

/** The signers table of the repository page: [{ name, shortId, fullId, type, subject, expires, registeredBy }]. */
function signerRows(page) {
  return page.locator('#signers table tbody tr').evaluateAll((trs) => trs.map((tr) => {
    const text = (td) => td.textContent.replace(/\s+/g, ' ').trim();
    const code = tr.cells[1].querySelector('code.keyid');
    // The name, without the badge that marks a signer just added.
    const name = [...tr.cells[0].childNodes].filter((n) => !n.classList?.contains('changed-badge'))
      .map((n) => n.textContent).join('').replace(/\s+/g, ' ').trim();
    return {
      name,
      shortId: code?.textContent,
      fullId: code?.getAttribute('title'),
      type: text(tr.cells[2]),
      subject: text(tr.cells[3]),
      expires: text(tr.cells[4]),
      registeredBy: text(tr.cells[5]),
      actions: tr.cells[6] ? text(tr.cells[6]) : null,
    };
  }));
}

/** The main element's alert paragraph (the form's error), trimmed text. */
async function formError(page) {
  const alert = page.locator('main p.alert[role="alert"]');
  await alert.waitFor();
  return (await alert.innerText()).trim();
}

const DATE = /^\d{4}-\d\d-\d\d \d\d:\d\d UTC/;

browserSuite('signers', (env, it) => {
  // What the tests learn and hand on, in order.
  const st = { gun: null, tmp: null, rootKeyId: null, repositoryKeyId: null, jeff: null, ian: null, digest1: null };

  // Screenshots of an earlier run (a FAILED one, say) must not pass for this run's.
  before(async () => {
    for (const f of await fsp.readdir(ARTIFACTS_DIR).catch(() => [])) {
      if (/^signers-.*\.png$/.test(f)) await fsp.rm(path.join(ARTIFACTS_DIR, f), { force: true });
    }
  });
  after(async () => {
    if (st.tmp) await fsp.rm(st.tmp, { recursive: true, force: true });
  });

  async function tmpFile(name, content) {
    st.tmp ??= await fsp.mkdtemp(path.join(os.tmpdir(), 'trustdeck-e2e-signers-'));
    const file = path.join(st.tmp, name);
    await fsp.writeFile(file, content, { mode: 0o600 });
    return file;
  }

  it('admin initialises trust for prod/web from its empty state; the root key is downloaded and removed from the vault', async () => {
    await withSession(env, 'signers-init', async (s) => {
      await s.login();
      await s.shot('signed-in');

      // The repository, created through the form.
      await s.goto('/repositories/new');
      await s.page.getByLabel('Namespace', { exact: true }).fill(NS);
      await s.page.getByLabel('Name', { exact: true }).fill(NAME);
      await s.shot('new-repository-filled');
      const created = await s.navigate(() => s.page.getByRole('button', { name: 'Create repository' }).click());
      await s.shot('repository-empty-state');
      assert.equal(created.status(), 200);
      assert.equal(s.pathname(), REPO);
      st.gun = (await s.page.locator('#gun').innerText()).trim();
      assert.equal(st.gun, `${env.server.hostPort}/${NS}/${NAME}`);

      // The empty state offers "Initialise trust".
      const trust = s.page.locator('#trust');
      assert.equal(await trust.locator('h2').innerText(), 'No trust data');
      const initLink = trust.getByRole('link', { name: 'Initialise trust' });
      assert.equal(await initLink.getAttribute('href'), `${REPO}/trust/new`);
      assert.equal(await s.page.getByRole('link', { name: 'Add signer' }).count(), 0, 'no signers section without trust data');
      const form = await s.navigate(() => initLink.click());
      await s.shot('initialise-form');
      assert.equal(form.status(), 200);
      assert.equal(s.pathname(), `${REPO}/trust/new`);
      assert.match(await s.page.locator('h1').innerText(), /Initialise trust for prod\/web/);

      const fill = async (root, rootRepeat, repo, repoRepeat) => {
        await s.page.getByLabel('Root key passphrase', { exact: true }).fill(root);
        await s.page.getByLabel('Repeat Root key passphrase', { exact: true }).fill(rootRepeat);
        await s.page.getByLabel('Repository key passphrase', { exact: true }).fill(repo);
        await s.page.getByLabel('Repeat Repository key passphrase', { exact: true }).fill(repoRepeat);
      };

      // The root passphrases differ: 400, an alert, nothing created.
      await fill(ROOT_PASSPHRASE, `${ROOT_PASSPHRASE}-typo`, REPO_PASSPHRASE, REPO_PASSPHRASE);
      await s.shot('initialise-mismatch-filled');
      const mismatch = await s.navigate(() => s.page.getByRole('button', { name: 'Initialise trust' }).click());
      await s.shot('initialise-mismatch-refused');
      assert.equal(mismatch.status(), 400);
      assert.match(await formError(s.page), /root key passphrases differ/i);
      assert.equal(await inspect(env.server, st.gun), null, 'no trust data after the refusal');
      const keysAfterMismatch = await api(env.server, 'GET', '/api/v1/keys');
      assert.deepEqual(keysAfterMismatch.json?.keys, [], `the vault holds no key after the refusal: ${keysAfterMismatch.body}`);

      // The repository passphrases differ too: refused the same way.
      await fill(ROOT_PASSPHRASE, ROOT_PASSPHRASE, REPO_PASSPHRASE, `${REPO_PASSPHRASE}-typo`);
      const mismatch2 = await s.navigate(() => s.page.getByRole('button', { name: 'Initialise trust' }).click());
      await s.shot('initialise-repository-mismatch-refused');
      assert.equal(mismatch2.status(), 400);
      assert.match(await formError(s.page), /repository key passphrases differ/i);
      assert.equal(await inspect(env.server, st.gun), null, 'still no trust data');

      // Initialise.
      await fill(ROOT_PASSPHRASE, ROOT_PASSPHRASE, REPO_PASSPHRASE, REPO_PASSPHRASE);
      const done = await s.navigate(() => s.page.getByRole('button', { name: 'Initialise trust' }).click());
      await s.shot('initialised');
      assert.equal(done.status(), 201);
      assert.equal(await s.page.locator('h1').innerText(), 'Trust initialised');
      const download = s.page.getByRole('link', { name: 'Download root key' });
      const href = await download.getAttribute('href');
      const idFromLink = href.match(/^\/keys\/([0-9a-f]{64})\/download$/)?.[1];
      assert.ok(idFromLink, `the download link names the root key: ${href}`);
      st.rootKeyId = idFromLink;
      assert.equal(await download.getAttribute('download'), '', 'the link downloads');
      const main = await s.page.locator('main').innerText();
      assert.ok(main.includes(st.rootKeyId), 'the page names the root key');
      st.repositoryKeyId = main.match(/Repository key: ([0-9a-f]{64})/)?.[1];
      assert.ok(st.repositoryKeyId, `the page names the repository key: ${main}`);

      // Both keys are in the vault now.
      const vault = await api(env.server, 'GET', '/api/v1/keys');
      const held = Object.fromEntries(vault.json.keys.map((k) => [k.id, k.role]));
      assert.deepEqual(held, { [st.rootKeyId]: 'root', [st.repositoryKeyId]: 'targets' }, vault.body);
      // The repository now has trust data, nothing signed.
      const inspected = await inspect(env.server, st.gun);
      assert.ok(inspected, 'trust data exists');
      assert.deepEqual(inspected.signers, {});
      assert.deepEqual(inspected.tags, []);
      const adminKeys = Object.fromEntries(inspected.raw.AdministrativeKeys.map((k) => [k.Name, k.Keys.map((x) => x.ID)]));
      assert.deepEqual(adminKeys.Repository, [st.repositoryKeyId], 'the repository key is the one the page named');

      // Download the root key: still encrypted, docker's key file for the root role.
      const [file] = await Promise.all([s.page.waitForEvent('download'), download.click()]);
      assert.equal(file.suggestedFilename(), `${st.rootKeyId}.key`);
      const saved = await file.path();
      assert.ok(saved, `download failed: ${await file.failure()}`);
      const pem = await fsp.readFile(saved, 'utf8');
      assert.match(pem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/, 'an encrypted PKCS#8 PEM');
      assert.match(pem, /\nrole: root\n/, 'with the role header root');
      assert.match(pem, /-----END ENCRYPTED PRIVATE KEY-----\n?$/);
      assert.doesNotMatch(pem, /BEGIN (EC )?PRIVATE KEY/, 'never a plain private key');
      await s.shot('root-key-downloaded');

      // Remove it from the vault: back on the repository page, the key gone from /keys.
      const removed = await s.navigate(() => s.page.getByRole('button', { name: 'Remove the root key from the vault' }).click());
      await s.shot('root-key-removed');
      assert.equal(removed.status(), 200);
      assert.equal(s.pathname(), REPO);
      assert.match(await s.page.getByRole('status').first().innerText(), new RegExp(`Key ${st.rootKeyId} removed from the vault`));
      assert.match(await s.page.locator('#signed-tags .empty').innerText(), /No signatures for/);
      assert.match(await s.page.locator('#signers .empty').innerText(), /No signers/);
      assert.equal(await s.page.locator('#signers').getByRole('link', { name: 'Add signer' }).count(), 1, 'an admin may add a signer');

      await s.navigate(() => s.page.getByRole('link', { name: 'Key vault' }).click());
      await s.shot('vault-without-root-key');
      assert.equal(s.pathname(), '/keys');
      const listed = await s.page.locator('main table code.keyid').evaluateAll((cs) => cs.map((c) => c.getAttribute('title')));
      assert.ok(!listed.includes(st.rootKeyId), `the root key is gone from /keys: ${listed}`);
      assert.deepEqual(listed, [st.repositoryKeyId], 'the repository key stays in the vault');
      const row = await tableRows(s.page.locator('main table'));
      assert.equal(row[0][1], 'targets');
      assert.equal(row[0][2], st.gun);
    }, { expectedStatuses: [400] });
  });

  it('jeff registers his certificate on /profile/keys; a private key is refused', async () => {
    assert.ok(st.gun, 'needs the repository of the first test');
    await createUser(env.server, JEFF, 'write');
    st.jeff = await keyPair('jeff');
    const certFile = await tmpFile('jeff-cert.pem', st.jeff.cert);

    await withSession(env, 'signers-profile', async (s) => {
      await s.login(JEFF.username, JEFF.password);
      await s.shot('jeff-signed-in');
      await s.navigate(() => s.page.getByRole('link', { name: 'My keys' }).click());
      await s.shot('profile-keys-empty');
      assert.equal(s.pathname(), '/profile/keys');
      assert.match(await s.page.locator('main .empty').innerText(), /You have registered no keys/);

      // A private key pasted: refused with an alert; not echoed back, nothing registered.
      await s.page.getByLabel('…or paste it (PEM)', { exact: true }).fill(st.jeff.key);
      await s.shot('private-key-pasted');
      const refused = await s.navigate(() => s.page.getByRole('button', { name: 'Register key' }).click());
      await s.shot('private-key-refused');
      assert.equal(refused.status(), 400);
      assert.match(await formError(s.page), /private key/i);
      assert.match(await formError(s.page), /never the private key/);
      assert.equal(await s.page.getByLabel('…or paste it (PEM)', { exact: true }).inputValue(), '', 'the private key is not put back into the form');
      const keyBody = st.jeff.key.split('\n')[1];
      assert.ok(!(await s.page.content()).includes(keyBody), 'the private key appears nowhere in the page');
      assert.equal(await s.page.locator('main table').count(), 0, 'nothing registered');
      const none = await api(env.server, 'GET', `/api/v1/users/${JEFF.username}/keys`, { as: JEFF });
      assert.deepEqual(none.json?.keys, [], none.body);

      // The certificate, uploaded as cert.pem.
      await s.page.getByLabel('Certificate or public key file', { exact: true }).setInputFiles(certFile);
      await s.shot('certificate-chosen');
      const registered = await s.navigate(() => s.page.getByRole('button', { name: 'Register key' }).click());
      await s.shot('certificate-registered');
      assert.equal(registered.status(), 200);
      assert.equal(s.pathname(), '/profile/keys');
      assert.match(await s.page.getByRole('status').first().innerText(), /Key registered/);
      const rows = await tableRows(s.page.locator('main table'));
      assert.equal(rows.length, 1, JSON.stringify(rows));
      const [keyCell, type, subject, expires] = rows[0];
      assert.equal(keyCell, `${st.jeff.keyId.slice(0, 12)} Copy`);
      assert.equal(type, 'x509 certificate');
      assert.equal(subject, 'jeff');
      assert.match(expires, DATE, 'the certificate expiry');
      assert.match(expires, /valid$/, 'valid for a year');
      const code = s.page.locator('main table code.keyid');
      assert.equal(await code.getAttribute('title'), st.jeff.keyId, 'the full key ID in the title');
      const shownExpiry = Date.parse(`${expires.slice(0, 16).replace(' ', 'T')}:00Z`);
      assert.ok(Math.abs(shownExpiry - (Date.now() + 365 * 86400_000)) < 86400_000, `expires in a year: ${expires}`);

      // Registering it again is refused (one registration per key and user).
      await s.page.getByLabel('…or paste it (PEM)', { exact: true }).fill(st.jeff.cert);
      const again = await s.navigate(() => s.page.getByRole('button', { name: 'Register key' }).click());
      await s.shot('certificate-registered-twice');
      assert.equal(again.status(), 409);
      assert.match(await formError(s.page), /already registered/);
      assert.equal((await tableRows(s.page.locator('main table'))).length, 1);

      // jeff may sign (write) but not manage signers.
      await s.goto(REPO);
      await s.shot('jeff-repository-page');
      assert.equal(await s.page.getByRole('link', { name: 'Add signer' }).count(), 0, 'write is not enough to add signers');
    }, { expectedStatuses: [400, 409] });
  });

  it("admin adds jeff from his registered key (a wrong passphrase first) and ian from an uploaded cert.pem", async () => {
    assert.ok(st.jeff, 'needs jeff\'s registered key');
    st.ian = await keyPair('ian');
    const ianCert = await tmpFile('cert.pem', st.ian.cert);

    await withSession(env, 'signers-add', async (s) => {
      await s.login();
      await s.goto(REPO);
      await s.shot('repository-no-signers');
      const open = await s.navigate(() => s.page.locator('#signers').getByRole('link', { name: 'Add signer' }).click());
      await s.shot('add-signer-form');
      assert.equal(open.status(), 200);
      assert.equal(s.pathname(), `${REPO}/signers/new`);
      assert.match(await s.page.locator('main fieldset .hint').innerText(), /vault holds the repository key/);

      // jeff's registered key is offered by user, short ID, type and subject.
      const select = s.page.getByLabel('A key registered by a trustdeck user', { exact: true });
      const options = await select.locator('option').evaluateAll((os) => os.map((o) => [o.value, o.textContent.trim()]));
      const jeffValue = `${JEFF.username}/${st.jeff.keyId}`;
      const offered = options.find(([v]) => v === jeffValue);
      assert.ok(offered, `jeff's key is offered: ${JSON.stringify(options)}`);
      assert.equal(offered[1], `jeff — ${st.jeff.keyId.slice(0, 12)} x509 certificate (jeff)`);

      const fillJeff = async (passphrase) => {
        await s.page.getByLabel('Signer name', { exact: true }).fill('jeff');
        await select.selectOption(jeffValue);
        await s.page.getByLabel('Repository key passphrase', { exact: true }).fill(passphrase);
      };

      // A wrong repository passphrase: 400, an alert, the choices kept, nothing published.
      await fillJeff(`${REPO_PASSPHRASE}-wrong`);
      await s.shot('add-jeff-wrong-passphrase-filled');
      const wrong = await s.navigate(() => s.page.getByRole('button', { name: 'Add signer' }).click());
      await s.shot('add-jeff-wrong-passphrase-refused');
      assert.equal(wrong.status(), 400);
      assert.match(await formError(s.page), new RegExp(`Wrong passphrase for key ${st.repositoryKeyId}`));
      assert.equal(await s.page.getByLabel('Signer name', { exact: true }).inputValue(), 'jeff', 'the name is kept');
      assert.equal(await select.inputValue(), jeffValue, 'the key choice is kept');
      assert.equal(await s.page.getByLabel('Repository key passphrase', { exact: true }).inputValue(), '', 'the passphrase is not echoed');
      assert.deepEqual((await inspect(env.server, st.gun)).signers, {}, 'the API shows no signer');
      await s.goto(REPO);
      await s.shot('repository-still-no-signers');
      assert.match(await s.page.locator('#signers .empty').innerText(), /No signers/);
      assert.equal(await s.page.locator('#signers table').count(), 0);

      // The right passphrase: jeff is added.
      await s.navigate(() => s.page.locator('#signers').getByRole('link', { name: 'Add signer' }).click());
      await fillJeff(REPO_PASSPHRASE);
      await s.shot('add-jeff-filled');
      const added = await s.navigate(() => s.page.getByRole('button', { name: 'Add signer' }).click());
      await s.shot('jeff-added');
      assert.equal(added.status(), 200);
      assert.equal(s.pathname(), REPO);
      assert.match(await s.page.getByRole('status').first().innerText(), /Signer jeff added/);
      assert.deepEqual((await signerRows(s.page)).map((r) => r.name), ['jeff']);

      // ian, from an uploaded cert.pem (nobody registered it).
      await s.navigate(() => s.page.locator('#signers').getByRole('link', { name: 'Add signer' }).click());
      await s.page.getByLabel('Signer name', { exact: true }).fill('ian');
      await s.page.getByLabel('Certificate or public key file (cert.pem)', { exact: true }).setInputFiles(ianCert);
      await s.page.getByLabel('Repository key passphrase', { exact: true }).fill(REPO_PASSPHRASE);
      assert.equal(await select.inputValue(), '', 'no registered key chosen');
      await s.shot('add-ian-filled');
      const addedIan = await s.navigate(() => s.page.getByRole('button', { name: 'Add signer' }).click());
      await s.shot('ian-added');
      assert.equal(addedIan.status(), 200);
      assert.equal(s.pathname(), REPO);
      assert.match(await s.page.getByRole('status').first().innerText(), /Signer ian added/);

      // The page lists both, with their key IDs; "Registered by" names jeff for his key.
      const rows = await signerRows(s.page);
      assert.deepEqual(rows.map((r) => r.name), ['ian', 'jeff'], JSON.stringify(rows));
      const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
      for (const [name, kp] of [['ian', st.ian], ['jeff', st.jeff]]) {
        const r = byName[name];
        assert.equal(r.shortId, kp.keyId.slice(0, 12), `${name}: 12-character key ID`);
        assert.equal(r.fullId, kp.keyId, `${name}: the full key ID in the title`);
        assert.equal(r.type, 'x509 certificate', `${name}: type`);
        assert.equal(r.subject, name, `${name}: certificate subject`);
        assert.match(r.expires, DATE, `${name}: expiry`);
        assert.equal(r.actions, 'Revoke…', `${name}: Revoke…`);
      }
      assert.equal(byName.jeff.registeredBy, 'jeff');
      assert.equal(byName.ian.registeredBy, 'unknown', 'nobody registered ian\'s key');
      const revokeHref = await s.page.locator('#signers tbody tr', { hasText: 'jeff' }).getByRole('link', { name: 'Revoke…' }).getAttribute('href');
      assert.equal(revokeHref, `${REPO}/signers/jeff/revoke`);

      // The API's inspect lists the same signers with the same full key IDs.
      const inspected = await inspect(env.server, st.gun);
      assert.deepEqual(inspected.signers, { ian: [byName.ian.fullId], jeff: [byName.jeff.fullId] });
      assert.deepEqual(inspected.tags, [], 'nothing signed yet');
      // The signer filter offers both.
      const filter = await s.page.getByLabel('Signer', { exact: true }).locator('option').evaluateAll((os) => os.map((o) => o.value));
      assert.deepEqual(filter, ['', 'ian', 'jeff']);
    }, { expectedStatuses: [400] });
  });

  it('jeff signs tag 1; revoking jeff warns about tag 1, requires typing "jeff", then removes him', async () => {
    assert.ok(st.jeff && st.ian, 'needs the signers of the previous test');
    // jeff signs tag 1 with his own key through the Notary API, as `docker trust sign` does.
    const keyFile = await tmpFile('jeff-key.pem', st.jeff.key);
    const signed = await runSeed(['--url', env.server.baseURL, '--ca', path.join(env.server.dataDir, 'tls', 'ca.crt'),
      '--user', JEFF.username, '--password', JEFF.password, '--gun', st.gun,
      '--key', keyFile, '--signer', 'jeff', '--tag', '1', 'sign'], { server: env.server });
    st.digest1 = signed.digests['1'];
    assert.match(st.digest1, /^[0-9a-f]{64}$/);
    const signedBefore = await inspect(env.server, st.gun);
    assert.deepEqual(signedBefore.tags, [{ SignedTag: '1', Digest: st.digest1, Signers: ['jeff'] }]);

    await withSession(env, 'signers-revoke', async (s) => {
      await s.login();
      await s.goto(REPO);
      await s.shot('tag-1-signed-by-jeff');
      assert.deepEqual(await tableRows(s.page.locator('#signed-tags table.tags')), [['1', `sha256:${st.digest1.slice(0, 12)}… Copy`, 'jeff']]);

      const open = await s.navigate(() => s.page.locator('#signers tbody tr', { hasText: 'jeff' }).getByRole('link', { name: 'Revoke…' }).click());
      await s.shot('revoke-jeff-impact');
      assert.equal(open.status(), 200);
      assert.equal(s.pathname(), `${REPO}/signers/jeff/revoke`);
      assert.equal(await s.page.locator('h1').innerText(), 'Revoke signer jeff');
      assert.deepEqual(await s.page.locator('main > section > p').first().locator('code').allTextContents(),
        ['targets/releases', 'targets/jeff', st.jeff.keyId.slice(0, 12)], 'the roles and jeff\'s key');

      // The impact: targets/releases was signed by jeff alone, so tag 1 has no valid signature left.
      const impact = s.page.locator('#impact');
      assert.equal(await impact.getAttribute('role'), 'alert', 'the impact is a warning, not a notice');
      const impactText = await impact.innerText();
      assert.match(impactText, /This will make these tags unpullable/);
      assert.deepEqual(await impact.locator('li.tagname').allTextContents(), ['1'], `the impact names tag 1: ${impactText}`);

      // (Not asserted: the "Repository key" hint of this page names no key — "The vault holds the repository
      // key , encrypted…" — because the handler's revokeModel drops the key ID; reported.)

      // The confirmation is required: a wrong name is refused, nothing changes.
      const confirm = s.page.getByLabel("Type the signer's name, jeff, to confirm", { exact: true });
      assert.equal(await confirm.getAttribute('required'), '');
      await confirm.fill('jef');
      await s.page.getByLabel('Repository key passphrase', { exact: true }).fill(REPO_PASSPHRASE);
      await s.shot('revoke-wrong-confirmation-filled');
      const wrong = await s.navigate(() => s.page.getByRole('button', { name: 'Revoke jeff' }).click());
      await s.shot('revoke-wrong-confirmation-refused');
      assert.equal(wrong.status(), 400);
      const err = await formError(s.page);
      assert.match(err, /unpullable/);
      assert.match(err, /Type the signer's name \(jeff\) to confirm/);
      assert.deepEqual(await s.page.locator('#impact li.tagname').allTextContents(), ['1'], 'the impact is shown again');
      assert.equal(await s.page.getByLabel("Type the signer's name, jeff, to confirm", { exact: true }).inputValue(), '');
      const unchanged = await inspect(env.server, st.gun);
      assert.deepEqual(Object.keys(unchanged.signers).sort(), ['ian', 'jeff'], 'jeff is still a signer');
      assert.deepEqual(unchanged.tags, signedBefore.tags, 'tag 1 is still signed by jeff');

      // Confirmed: jeff is revoked.
      await s.page.getByLabel("Type the signer's name, jeff, to confirm", { exact: true }).fill('jeff');
      await s.page.getByLabel('Repository key passphrase', { exact: true }).fill(REPO_PASSPHRASE);
      await s.shot('revoke-confirmed-filled');
      const revoked = await s.navigate(() => s.page.getByRole('button', { name: 'Revoke jeff' }).click());
      await s.shot('jeff-revoked');
      assert.equal(revoked.status(), 200);
      assert.equal(s.pathname(), REPO);
      assert.match(await s.page.getByRole('status').first().innerText(), /Signer jeff revoked/);
      const rows = await signerRows(s.page);
      assert.deepEqual(rows.map((r) => r.name), ['ian'], `jeff is no longer listed: ${JSON.stringify(rows)}`);
      assert.equal(rows[0].fullId, st.ian.keyId);
      // As the impact said, tag 1 no longer has a signature.
      assert.match(await s.page.locator('#signed-tags .empty').innerText(), /No signatures for/);

      const after = await inspect(env.server, st.gun);
      assert.deepEqual(after.signers, { ian: [st.ian.keyId] }, 'the API no longer lists jeff');
      assert.deepEqual(after.tags, []);

      // The audit log records both signer changes.
      const audit = await api(env.server, 'GET', `/api/v1/audit?repository=${NS}/${NAME}`);
      const details = audit.json.events.map((e) => e.detail).join('\n');
      assert.match(details, /signer jeff revoked/);
      assert.match(details, /signer ian with key/);
    }, { expectedStatuses: [400] });
  });

  it('a read-only user sees the signers but no controls; the management pages answer 403', async () => {
    assert.ok(st.gun, 'needs the repository of the first test');
    await createUser(env.server, READER, 'read');
    const bare = await api(env.server, 'POST', '/api/v1/repositories', { body: { namespace: NS, name: 'bare' } });
    assert.equal(bare.status, 201, bare.body);

    await withSession(env, 'signers-reader', async (s) => {
      await s.login(READER.username, READER.password);
      await s.shot('reader-signed-in');
      const page = await s.goto(REPO);
      await s.shot('reader-repository-page');
      assert.equal(page.status(), 200);
      const rows = await signerRows(s.page);
      assert.deepEqual(rows.map((r) => [r.name, r.fullId, r.registeredBy]), [['ian', st.ian.keyId, 'unknown']]);
      assert.equal(rows[0].actions, null, 'no Actions column');
      assert.equal(await s.page.locator('#signers thead th').filter({ hasText: 'Actions' }).count(), 0);
      assert.equal(await s.page.getByRole('link', { name: 'Add signer' }).count(), 0, 'no "Add signer"');
      assert.equal(await s.page.getByRole('link', { name: 'Revoke…' }).count(), 0, 'no "Revoke…"');
      assert.equal(await s.page.locator(`main a[href*="/signers/"], main form[action*="/signers"]`).count(), 0);

      // A repository without trust data: no "Initialise trust" for a reader.
      await s.goto(`/repositories/${NS}/bare`);
      await s.shot('reader-no-trust-data');
      assert.equal(await s.page.locator('#trust h2').innerText(), 'No trust data');
      assert.equal(await s.page.getByRole('link', { name: 'Initialise trust' }).count(), 0, 'no "Initialise trust"');
      assert.equal(await s.page.locator('main a[href$="/trust/new"]').count(), 0);

      // The pages themselves are forbidden.
      for (const [url, shot] of [
        [`${REPO}/signers/new`, 'reader-add-signer-403'],
        [`${REPO}/signers/ian/revoke`, 'reader-revoke-403'],
        [`/repositories/${NS}/bare/trust/new`, 'reader-initialise-403'],
      ]) {
        const res = await s.goto(url);
        await s.shot(shot);
        assert.equal(res.status(), 403, `GET ${url} as a reader`);
        assert.equal(await s.page.locator('main form[enctype="multipart/form-data"]').count(), 0, `no form on ${url}`);
      }
      // And so are the actions, through the API.
      const revoke = await api(env.server, 'POST', `/api/v1/repositories/${NS}/${NAME}/signers/ian/revoke`,
        { as: READER, body: { repository_passphrase: REPO_PASSPHRASE, confirm: 'ian' } });
      assert.equal(revoke.status, 403, revoke.body);
      assert.deepEqual((await inspect(env.server, st.gun)).signers, { ian: [st.ian.keyId] }, 'ian is still a signer');
    }, { expectedStatuses: [403] });
  });
});
