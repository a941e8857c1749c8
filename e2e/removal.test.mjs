// The removal wizard ("Delete repository…", /repositories/{ns}/{name}/delete) in the browser:
// an administrator removes prod/nginx — the seed's end state, tag 1 signed by jeff and ian, made by
// bin/trustdeck-e2e-seed (scenario "one") through the Notary API — step by step: 1 what will be lost,
// 2 the backup (downloaded and unpacked here: a gzip'd tar, one top folder, every role's JSON, the
// manifest, the README), 3 the trust data (type-to-confirm; a wrong name changes nothing), 4 the
// repository (offered only once no trust data remains). The audit log keeps both deletions.
// A repository without trust data goes straight to step 4; a repository whose keys the vault holds
// offers to delete them too; a read-only user sees no "Delete repository…" and the wizard answers 403.
//
// Screenshots: e2e/artifacts/removal-*.png (one or more per step).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { before } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { ARTIFACTS_DIR, REPO_ROOT, api, httpsGet } from './lib/server.mjs';
import { browserSuite, withSession } from './lib/suite.mjs';

/** Path of the seed program: $TRUSTDECK_SEED_BIN, else <repo>/bin/trustdeck-e2e-seed. */
const SEED_BIN = process.env.TRUSTDECK_SEED_BIN || path.join(REPO_ROOT, 'bin', 'trustdeck-e2e-seed');
const SEED_TIMEOUT_MS = 60_000;

const NS = 'prod';
const READER = { username: 'rosa', password: 'rosa-password-e2e-1' };
const DATE = /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/;
const DATE_PREFIX = /^\d{4}-\d\d-\d\d \d\d:\d\d UTC — /;
/** The roles of the seed's repository, as the Notary API names their files (<role>.json). */
const ROLES = ['root', 'targets', 'snapshot', 'timestamp', 'targets/releases', 'targets/jeff', 'targets/ian'];

/** Runs the seed binary for one scenario on <NS>/<name>; resolves with what it printed (JSON). */
function runSeed(server, name, scenario) {
  if (!fs.existsSync(SEED_BIN)) {
    throw new Error(`seed program not built at ${SEED_BIN}: run 'go build -o bin/trustdeck-e2e-seed ./e2e/seed' ` +
      "(make e2e does), or set TRUSTDECK_SEED_BIN");
  }
  const args = ['--url', server.baseURL, '--ca', path.join(server.dataDir, 'tls', 'ca.crt'),
    '--user', server.adminUser, '--password', server.adminPassword, '--gun', `${server.hostPort}/${NS}/${name}`, scenario];
  return new Promise((resolve, reject) => {
    execFile(SEED_BIN, args, { timeout: SEED_TIMEOUT_MS, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`seed ${scenario} ${NS}/${name} failed (${err.killed ? `killed after ${SEED_TIMEOUT_MS}ms` : `exit ${err.code}`}):\n` +
          `${stderr}\nserver log: ${server.logPath}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout));
      } catch (e) {
        reject(new Error(`seed ${scenario} ${NS}/${name}: stdout is not JSON (${e.message}):\n${stdout}\n${stderr}`));
      }
    });
  });
}

/** The status of the API's inspect (docker trust inspect) of a GUN: 200 with trust data, 404 without. */
async function inspectStatus(server, gun) {
  const res = await api(server, 'GET', `/api/v1/trust/inspect?ref=${encodeURIComponent(gun)}`);
  assert.ok([200, 404].includes(res.status), `inspect ${gun}: ${res.status} ${res.body}`);
  return res.status;
}

/** The API's view of one repository: its status (200, or 404 once deleted). */
async function repositoryStatus(server, name) {
  return (await api(server, 'GET', `/api/v1/repositories/${NS}/${name}`)).status;
}

/**
 * A role's metadata as the Notary API serves it to a notary client (GET /v2/<gun>/_trust/tuf/<role>.json),
 * the registry token challenge answered with the admin's basic credentials. Resolves with the body (Buffer).
 */
async function notaryMetadata(server, gun, role) {
  const url = `${server.baseURL}/v2/${gun}/_trust/tuf/${role}.json`;
  const challenge = await httpsGet(url, { ca: server.ca, timeoutMs: 15_000 });
  assert.equal(challenge.status, 401, `GET ${url} without a token: ${challenge.body}`);
  const params = Object.fromEntries([...challenge.headers['www-authenticate'].matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  const realm = new URL(params.realm);
  realm.searchParams.set('service', params.service);
  realm.searchParams.set('scope', params.scope);
  const basic = `Basic ${Buffer.from(`${server.adminUser}:${server.adminPassword}`).toString('base64')}`;
  const tokenRes = await httpsGet(realm.href, { ca: server.ca, timeoutMs: 15_000, headers: { Authorization: basic } });
  assert.equal(tokenRes.status, 200, `token for ${params.scope}: ${tokenRes.body}`);
  const { token, access_token: accessToken } = JSON.parse(tokenRes.body);
  const res = await httpsGet(url, { ca: server.ca, timeoutMs: 15_000, headers: { Authorization: `Bearer ${token || accessToken}` } });
  assert.equal(res.status, 200, `GET ${url}: ${res.body}`);
  return Buffer.from(res.body, 'utf8');
}

/** The rows of a table body as arrays of trimmed cell texts. */
function tableRows(table) {
  return table.locator('tbody tr').evaluateAll((trs) =>
    trs.map((tr) => [...tr.cells].map((td) => td.textContent.replace(/\s+/g, ' ').trim())));
}

/** The texts of the items of a list, whitespace collapsed. */
function itemTexts(list) {
  return list.locator(':scope > li').evaluateAll((lis) => lis.map((li) => li.textContent.replace(/\s+/g, ' ').trim()));
}

/** The main element's alert paragraph (the wizard's error), trimmed text. */
async function formError(page) {
  const alert = page.locator('main p.alert[role="alert"]');
  await alert.waitFor();
  return (await alert.innerText()).trim();
}

/** The notice (flash) of the page, trimmed text. */
async function notice(page) {
  const status = page.locator('main p.notice[role="status"]');
  await status.waitFor();
  return (await status.innerText()).trim();
}

/** The repositories the list page shows (first cell's link texts). */
async function listedRepositories(page) {
  return (await page.locator('table tbody tr td:first-child a').allInnerTexts()).map((t) => t.trim());
}

// --- a minimal tar reader (ustar, with pax and GNU long names), for the backup ---

function tarString(buf, start, len) {
  const field = buf.subarray(start, start + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? field.length : nul).toString('utf8');
}

function tarOctal(buf, start, len) {
  const s = tarString(buf, start, len).trim();
  assert.match(s, /^[0-7]+$/, `tar: octal field at ${start}: ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

/** Parses pax records ("<len> <key>=<value>\n"...) into an object. */
function paxRecords(data) {
  const out = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    const len = parseInt(data.subarray(i, sp).toString('ascii'), 10);
    assert.ok(sp > i && len > 0, 'tar: malformed pax record');
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/**
 * The entries of a tar archive: [{ name, type, mode, data }] (type '0' is a regular file, '5' a
 * directory). Checks every header's checksum and that the archive ends with zero blocks.
 */
function readTar(tar) {
  assert.equal(tar.length % 512, 0, `tar: ${tar.length} bytes is not a whole number of 512-byte blocks`);
  const entries = [];
  let off = 0;
  let pending = {};
  let ended = false;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) {
      ended = true;
      break;
    }
    // The checksum: the sum of the header's bytes with the checksum field read as spaces.
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
    assert.equal(tarOctal(h, 148, 8), sum, `tar: header checksum at offset ${off}`);
    const magic = tarString(h, 257, 6);
    assert.ok(magic === 'ustar' || magic === 'ustar ', `tar: ustar magic at offset ${off}: ${JSON.stringify(magic)}`);
    const size = tarOctal(h, 124, 12);
    const type = String.fromCharCode(h[156] || 0x30);
    const data = tar.subarray(off + 512, off + 512 + size);
    assert.equal(data.length, size, `tar: entry at ${off} truncated`);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') { pending = { ...pending, ...paxRecords(data) }; continue; }
    if (type === 'g') continue;
    if (type === 'L') { pending.path = tarString(data, 0, data.length); continue; }
    const prefix = tarString(h, 345, 155);
    const name = pending.path ?? (prefix ? `${prefix}/${tarString(h, 0, 100)}` : tarString(h, 0, 100));
    pending = {};
    entries.push({ name, type, mode: tarOctal(h, 100, 8), data });
  }
  assert.ok(ended, 'tar: the archive ends with a zero block');
  return entries;
}

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

browserSuite('removal', (env, it) => {
  // Screenshots of an earlier run (a FAILED one, say) must not pass for this run's.
  before(async () => {
    for (const f of await fsp.readdir(ARTIFACTS_DIR).catch(() => [])) {
      if (/^removal-.*\.png$/.test(f)) await fsp.rm(path.join(ARTIFACTS_DIR, f), { force: true });
    }
  });

  it('admin removes prod/nginx: summary, backup, trust data (type-to-confirm), then the repository', async () => {
    // The seed's end state: signers jeff and ian, tag 1 signed by both.
    const nginx = await runSeed(env.server, 'nginx', 'one');
    const { gun } = nginx;
    const REPO = `/repositories/${NS}/nginx`;
    const WIZARD = `${REPO}/delete`;
    const inspected = await api(env.server, 'GET', `/api/v1/trust/inspect?ref=${encodeURIComponent(gun)}`);
    assert.equal(inspected.status, 200, inspected.body);
    assert.deepEqual(inspected.json[0].SignedTags.map((t) => [t.SignedTag, t.Digest, [...t.Signers].sort()]),
      [['1', nginx.digests['1'], ['ian', 'jeff']]], 'the seed signed tag 1 with jeff and ian');

    await withSession(env, 'removal-nginx', async (s) => {
      await s.login();
      const repoPage = await s.goto(REPO);
      await s.shot('repository-page');
      assert.equal(repoPage.status(), 200);

      // The repository page: "Download trust backup" and, for an admin, "Delete repository…".
      const maintenance = s.page.locator('#maintenance');
      const pageBackup = maintenance.getByRole('link', { name: 'Download trust backup' });
      assert.equal(await pageBackup.getAttribute('href'), `${REPO}/trust/backup`);
      assert.equal(await pageBackup.getAttribute('download'), '', 'the backup link downloads');
      const deleteLink = maintenance.getByRole('link', { name: 'Delete repository…' });
      assert.equal(await deleteLink.getAttribute('href'), WIZARD);
      const opened = await s.navigate(() => deleteLink.click());
      assert.equal(opened.status(), 200);
      assert.equal(s.pathname(), WIZARD);
      assert.equal(await s.page.locator('h1').innerText(), 'Delete prod/nginx');
      assert.equal(await s.page.locator('main p.alert').count(), 0, 'no alert on a fresh wizard');

      // --- Step 1: what will be lost.
      const summary = s.page.locator('#step-summary');
      await summary.scrollIntoViewIfNeeded();
      await s.shot('step-1-summary');
      assert.equal(await summary.locator('h2').innerText(), '1. What will be lost');
      const lost = await itemTexts(summary.locator('#lost'));
      assert.equal(lost.length, 3, JSON.stringify(lost));
      assert.equal(lost[0], '1 signed tag', `one signed tag: ${lost[0]}`);
      // Signers are named after the count, comma-separated.
      assert.equal(lost[1], '2 signers: ian, jeff', `signers ian and jeff: ${lost[1]}`);
      assert.match(lost[2], /^last updated \d{4}-\d\d-\d\d \d\d:\d\d UTC$/, lost[2]);

      const roleRows = await tableRows(summary.locator('#roles'));
      assert.deepEqual(roleRows.map((r) => r[0]).sort(), [...ROLES].sort(), `every role listed: ${JSON.stringify(roleRows)}`);
      const versions = {};
      for (const [role, version, expires] of roleRows) {
        assert.match(version, /^[1-9]\d*$/, `${role}: a version`);
        assert.match(expires, DATE, `${role}: an expiry`);
        versions[role] = Number(version);
      }
      assert.equal(versions.root, 1, 'root was signed once');

      // The seed's keys stay on its client: the vault holds none for prod/nginx.
      assert.equal(await summary.locator('#vault-keys').count(), 0);
      assert.equal((await summary.locator('h3:has-text("Keys in the vault") + p').innerText()).trim(), 'None.');

      // Recent history: the audit log's latest events for the repository, newest first.
      const history = await itemTexts(summary.locator('#history'));
      const audit = await api(env.server, 'GET', `/api/v1/audit?repository=${NS}/nginx`);
      assert.equal(audit.status, 200, audit.body);
      const events = audit.json.events;
      assert.equal(history.length, Math.min(events.length, 10), `history: ${JSON.stringify(history)}`);
      history.forEach((h, i) => {
        assert.match(h, DATE_PREFIX, `history entry ${i} starts with its time: ${h}`);
        assert.ok(h.includes(`— ${events[i].actor}: ${events[i].action}`), `history entry ${i} is ${events[i].action}: ${h}`);
      });
      assert.ok(history.some((h) => h.includes('— admin: repository.create')), `the creation is listed: ${JSON.stringify(history)}`);
      assert.ok(history.some((h) => h.includes('— admin: trust.update') && h.includes('targets/releases v')),
        `the signing is listed: ${JSON.stringify(history)}`);

      // Step 4 is not available yet: no form, no button, no confirmation field.
      const step4 = s.page.locator('#step-repository');
      assert.match(await step4.getAttribute('class'), /\bblocked\b/);
      assert.equal((await step4.locator('p').innerText()).trim(), 'Possible once no trust data remains.');
      assert.equal(await step4.locator('form').count(), 0, 'no form in step 4');
      assert.equal(await s.page.getByRole('button', { name: 'Delete repository', exact: true }).count(), 0);
      assert.equal(await s.page.locator('#confirm-repo').count(), 0);
      // Nor does the server remove it behind the wizard's back (the API's DELETE): 409, still there.
      const early = await api(env.server, 'DELETE', `/api/v1/repositories/${NS}/nginx`);
      assert.equal(early.status, 409, `DELETE of a repository with trust data: ${early.body}`);
      assert.match(early.body, /still has trust data/);
      assert.equal(await repositoryStatus(env.server, 'nginx'), 200, 'the repository is still there');

      // --- Step 2: the backup, downloaded.
      const step2 = s.page.locator('#step-backup');
      await step2.scrollIntoViewIfNeeded();
      await s.shot('step-2-backup');
      assert.equal(await step2.locator('h2').innerText(), '2. Back up the trust data');
      const backupLink = step2.getByRole('link', { name: 'Download backup' });
      assert.equal(await backupLink.getAttribute('href'), `${REPO}/trust/backup`);
      const [download] = await Promise.all([s.page.waitForEvent('download'), backupLink.click()]);
      const saved = await download.path();
      assert.ok(saved, `download failed: ${await download.failure()}`);
      const filename = download.suggestedFilename();
      const safeGun = gun.replace(/[/:]/g, '_');
      assert.match(filename, new RegExp(`^${safeGun.replace(/\./g, '\\.')}-trust-\\d{8}T\\d{6}Z\\.tar\\.gz$`), filename);
      const top = filename.slice(0, -'.tar.gz'.length);
      const gz = await fsp.readFile(saved);
      await fsp.writeFile(path.join(ARTIFACTS_DIR, 'removal-backup.tar.gz'), gz);
      assert.deepEqual([...gz.subarray(0, 3)], [0x1f, 0x8b, 0x08], 'gzip magic and deflate');
      const entries = readTar(gunzipSync(gz));
      const names = entries.map((e) => e.name);
      for (const e of entries) {
        assert.equal(e.type, '0', `${e.name}: a regular file`);
        assert.ok(e.name.startsWith(`${top}/`), `${e.name} is under the one top folder ${top}/`);
      }
      const inTop = Object.fromEntries(entries.map((e) => [e.name.slice(top.length + 1), e.data]));
      const expectedFiles = [...ROLES.map((r) => `${r}.json`), 'manifest.json', 'README.txt'];
      assert.deepEqual(Object.keys(inTop).sort(), [...expectedFiles].sort(), `the archive's files: ${JSON.stringify(names)}`);

      // manifest.json: the GUN, who made it, each role's file, version and checksum.
      const manifest = JSON.parse(inTop['manifest.json'].toString('utf8'));
      assert.equal(manifest.gun, gun);
      assert.equal(manifest.created_by, 'admin');
      assert.ok(Math.abs(Date.parse(manifest.created_at) - Date.now()) < 10 * 60_000, `created now: ${manifest.created_at}`);
      assert.deepEqual(manifest.files.map((f) => f.role).sort(), [...ROLES].sort());
      for (const f of manifest.files) {
        const body = inTop[f.file];
        assert.equal(f.file, `${f.role}.json`);
        assert.ok(body, `${f.file} is in the archive`);
        assert.equal(f.sha256, sha256(body), `${f.file}: the manifest's sha256`);
        assert.equal(f.size, body.length, `${f.file}: the manifest's size`);
        assert.equal(f.version, versions[f.role], `${f.role}: the version step 1 showed`);
        const signedRole = JSON.parse(body.toString('utf8'));
        assert.equal(signedRole.signed.version, f.version, `${f.file}: its own version`);
        assert.ok(signedRole.signatures.length > 0, `${f.file} is signed`);
        const kind = { root: 'Root', snapshot: 'Snapshot', timestamp: 'Timestamp' }[f.role] ?? 'Targets';
        assert.equal(signedRole.signed._type, kind, `${f.file}: _type`);
      }
      // Tag 1 is in targets/releases, targets/jeff and targets/ian with the seed's digest.
      for (const role of ['targets/releases', 'targets/jeff', 'targets/ian']) {
        const t = JSON.parse(inTop[`${role}.json`].toString('utf8')).signed.targets;
        assert.deepEqual(Object.keys(t), ['1'], `${role}: tag 1 only`);
        assert.equal(Buffer.from(t['1'].hashes.sha256, 'base64').toString('hex'), nginx.digests['1'], `${role}: tag 1's digest`);
      }
      // Each role's file is exactly what the Notary API serves a notary client.
      for (const role of ROLES) {
        const served = await notaryMetadata(env.server, gun, role);
        assert.equal(sha256(inTop[`${role}.json`]), sha256(served), `${role}.json is the served metadata, byte for byte`);
      }
      const readme = inTop['README.txt'].toString('utf8');
      assert.ok(readme.includes(gun), 'the README names the GUN');
      assert.ok(readme.includes(`tar -xzf ${filename}`), 'the README says how to unpack it');

      // --- Step 3: a wrong confirmation is refused; the trust data stays.
      const step3 = s.page.locator('#step-trust');
      assert.equal(await step3.locator('h2').innerText(), '3. Delete the trust data');
      assert.ok((await step3.innerText()).includes(`notary delete ${gun} --remote`));
      assert.equal(await step3.locator('input[type="checkbox"]').count(), 0, 'no "delete keys" choice: the vault holds none');
      const confirmTrust = step3.getByLabel('Type prod/nginx to confirm', { exact: true });
      assert.equal(await confirmTrust.getAttribute('required'), '');
      await confirmTrust.fill('nginx');
      await step3.scrollIntoViewIfNeeded();
      await s.shot('step-3-wrong-confirmation-filled');
      const wrong = await s.navigate(() => step3.getByRole('button', { name: 'Delete trust data' }).click());
      await s.shot('step-3-wrong-confirmation-refused');
      assert.equal(wrong.status(), 400);
      assert.equal(await formError(s.page), "Type the repository's full name, prod/nginx, to confirm.");
      assert.equal(await inspectStatus(env.server, gun), 200, 'the trust data is still there');
      assert.equal(await s.page.locator('#step-trust form').count(), 1, 'step 3 is offered again');
      assert.equal(await s.page.locator('#step-trust').getByLabel('Type prod/nginx to confirm', { exact: true }).inputValue(), '',
        'the wrong confirmation is not kept');
      assert.match(await s.page.locator('#step-repository').getAttribute('class'), /\bblocked\b/, 'step 4 still blocked');
      assert.match((await itemTexts(s.page.locator('#lost')))[0], /^1 signed tag$/, 'the summary still shows tag 1');

      // The right confirmation: the trust data is deleted; back on the wizard, step 3 done, step 4 offered.
      await s.page.locator('#step-trust').getByLabel('Type prod/nginx to confirm', { exact: true }).fill('prod/nginx');
      await s.shot('step-3-confirmed-filled');
      const deleted = await s.navigate(() => s.page.locator('#step-trust').getByRole('button', { name: 'Delete trust data' }).click());
      await s.shot('step-3-done');
      assert.equal(deleted.status(), 200);
      assert.equal(s.pathname(), WIZARD);
      assert.equal(await notice(s.page), `Trust data of ${gun} deleted.`);
      assert.equal(await s.page.locator('main p.alert').count(), 0);
      assert.equal(await inspectStatus(env.server, gun), 404, 'GET /api/v1/trust/inspect now answers 404');

      const step3done = s.page.locator('#step-trust');
      assert.match(await step3done.getAttribute('class'), /\bdone\b/);
      assert.equal((await step3done.locator('p').innerText()).trim(), 'Done: no trust data remains.');
      assert.equal(await step3done.locator('form').count(), 0);
      assert.equal(await s.page.locator('#step-backup').count(), 0, 'nothing left to back up');
      assert.equal((await s.page.locator('#no-trust').innerText()).trim(), `No trust data: ${gun} has nothing signed.`);
      assert.equal(await s.page.locator('#lost').count(), 0);
      const historyAfter = await itemTexts(s.page.locator('#history'));
      assert.match(historyAfter[0], /— admin: trust\.delete all trust data deleted/, `newest first: ${historyAfter[0]}`);

      // --- Step 4: offered now, still type-to-confirm.
      const step4now = s.page.locator('#step-repository');
      await step4now.scrollIntoViewIfNeeded();
      await s.shot('step-4-offered');
      assert.doesNotMatch(await step4now.getAttribute('class'), /\bblocked\b/);
      assert.ok((await step4now.innerText()).includes('Removes prod/nginx from the catalog. Its audit history stays.'));
      const confirmRepo = step4now.getByLabel('Type prod/nginx to confirm', { exact: true });
      assert.equal(await confirmRepo.getAttribute('required'), '');
      await confirmRepo.fill('prod/nginx-');
      await s.shot('step-4-wrong-confirmation-filled');
      const wrong4 = await s.navigate(() => step4now.getByRole('button', { name: 'Delete repository', exact: true }).click());
      await s.shot('step-4-wrong-confirmation-refused');
      assert.equal(wrong4.status(), 400);
      assert.equal(await formError(s.page), "Type the repository's full name, prod/nginx, to confirm.");
      assert.equal(await repositoryStatus(env.server, 'nginx'), 200, 'the repository is still there');
      assert.equal(await s.page.locator('#step-repository form').count(), 1, 'step 4 is offered again');

      await s.page.locator('#step-repository').getByLabel('Type prod/nginx to confirm', { exact: true }).fill('prod/nginx');
      await s.shot('step-4-confirmed-filled');
      const gone = await s.navigate(() => s.page.locator('#step-repository').getByRole('button', { name: 'Delete repository', exact: true }).click());
      await s.shot('step-4-done-repository-list');
      assert.equal(gone.status(), 200);
      assert.equal(s.pathname(), '/repositories');
      assert.equal(await notice(s.page), 'Repository prod/nginx deleted.');
      assert.ok(!(await listedRepositories(s.page)).includes('prod/nginx'), 'prod/nginx is no longer listed');
      assert.equal(await repositoryStatus(env.server, 'nginx'), 404, 'the API no longer knows prod/nginx');

      // The audit log keeps the history of the removed repository.
      const auditPage = await s.goto(`/audit?repository=${NS}/nginx`);
      await s.shot('audit-after-removal');
      assert.equal(auditPage.status(), 200);
      assert.equal((await s.page.locator('h1').innerText()).replace(/\s+/g, ' ').trim(), 'Audit log for prod/nginx');
      const auditRows = await tableRows(s.page.locator('main table'));
      // The "What" cell says it in words, then the action's code.
      const find = (action) => auditRows.find((r) => r[2].endsWith(` ${action}`));
      const trustDelete = find('trust.delete');
      assert.ok(trustDelete, `trust.delete listed: ${JSON.stringify(auditRows)}`);
      assert.equal(trustDelete[1], 'admin');
      assert.equal(trustDelete[3], gun);
      const repoDelete = find('repository.delete');
      assert.ok(repoDelete, `repository.delete listed: ${JSON.stringify(auditRows)}`);
      assert.equal(repoDelete[1], 'admin');
      assert.equal(repoDelete[3], gun);
      assert.equal(auditRows[0][2], 'deleted the repository repository.delete', 'the newest event is the removal');
      assert.ok(auditRows.indexOf(repoDelete) < auditRows.indexOf(trustDelete), 'the trust data went first');
      assert.ok(find('repository.create') && find('trust.update'), 'the earlier history stays too');
    }, { expectedStatuses: [400] });
  });

  it('a repository without trust data (prod/empty) goes straight to step 4, still type-to-confirm', async () => {
    await withSession(env, 'removal-empty', async (s) => {
      await s.login();
      // Created through the form.
      await s.goto('/repositories/new');
      await s.page.getByLabel('Namespace', { exact: true }).fill(NS);
      await s.page.getByLabel('Name', { exact: true }).fill('empty');
      const created = await s.navigate(() => s.page.getByRole('button', { name: 'Create repository' }).click());
      await s.shot('repository-page');
      assert.equal(created.status(), 200);
      assert.equal(s.pathname(), `/repositories/${NS}/empty`);
      const gun = (await s.page.locator('#gun').innerText()).trim();
      assert.equal(await s.page.locator('#maintenance').getByRole('link', { name: 'Download trust backup' }).count(), 0,
        'no backup without trust data');
      const backup = await api(env.server, 'GET', `/api/v1/repositories/${NS}/empty/trust/backup`);
      assert.equal(backup.status, 404, `nothing to back up: ${backup.body}`);

      await s.navigate(() => s.page.locator('#maintenance').getByRole('link', { name: 'Delete repository…' }).click());
      await s.shot('wizard');
      assert.equal(s.pathname(), `/repositories/${NS}/empty/delete`);
      assert.equal((await s.page.locator('#no-trust').innerText()).trim(), `No trust data: ${gun} has nothing signed.`);
      assert.equal(await s.page.locator('#lost').count(), 0);
      assert.equal(await s.page.locator('#roles').count(), 0);
      const history = await itemTexts(s.page.locator('#history'));
      assert.equal(history.length, 1, JSON.stringify(history));
      assert.match(history[0], /— admin: repository\.create$/);

      // Steps 2 and 3 are not offered as actions.
      assert.equal(await s.page.locator('#step-backup').count(), 0, 'no backup step');
      assert.equal(await s.page.getByRole('link', { name: 'Download backup' }).count(), 0);
      const step3 = s.page.locator('#step-trust');
      assert.match(await step3.getAttribute('class'), /\bdone\b/);
      assert.equal((await step3.locator('p').innerText()).trim(), 'Done: no trust data remains.');
      assert.equal(await step3.locator('form, input, button').count(), 0);
      assert.equal(await s.page.getByRole('button', { name: 'Delete trust data' }).count(), 0);
      assert.equal(await s.page.locator('main form').count(), 1, 'one form: step 4');

      // Step 4: an empty confirmation is stopped by the browser, a wrong one by the server.
      const step4 = s.page.locator('#step-repository');
      assert.doesNotMatch(await step4.getAttribute('class'), /\bblocked\b/);
      const confirm = step4.getByLabel('Type prod/empty to confirm', { exact: true });
      const button = step4.getByRole('button', { name: 'Delete repository', exact: true });
      await button.click();
      assert.equal(await confirm.evaluate((el) => el.validity.valueMissing), true, 'the confirmation is required');
      assert.equal(s.pathname(), `/repositories/${NS}/empty/delete`, 'nothing submitted');
      await confirm.fill('prod/nginx');
      await s.shot('step-4-wrong-confirmation-filled');
      const wrong = await s.navigate(() => button.click());
      await s.shot('step-4-wrong-confirmation-refused');
      assert.equal(wrong.status(), 400);
      assert.equal(await formError(s.page), "Type the repository's full name, prod/empty, to confirm.");
      assert.equal(await repositoryStatus(env.server, 'empty'), 200, 'still there');

      await s.page.locator('#step-repository').getByLabel('Type prod/empty to confirm', { exact: true }).fill('prod/empty');
      const gone = await s.navigate(() => s.page.locator('#step-repository').getByRole('button', { name: 'Delete repository', exact: true }).click());
      await s.shot('deleted');
      assert.equal(gone.status(), 200);
      assert.equal(s.pathname(), '/repositories');
      assert.equal(await notice(s.page), 'Repository prod/empty deleted.');
      assert.ok(!(await listedRepositories(s.page)).includes('prod/empty'));
      assert.equal(await repositoryStatus(env.server, 'empty'), 404);

      const audit = await api(env.server, 'GET', `/api/v1/audit?repository=${NS}/empty`);
      assert.deepEqual(audit.json.events.map((e) => [e.actor, e.action]),
        [['admin', 'repository.delete'], ['admin', 'repository.create']], 'no trust.delete: there was no trust data');
    }, { expectedStatuses: [400] });
  });

  it("the vault's key of the repository: listed in step 1, kept unless the box is checked, then deleted with the trust data", async () => {
    const name = 'vaulted';
    const created = await api(env.server, 'POST', '/api/v1/repositories', { body: { namespace: NS, name } });
    assert.equal(created.status, 201, created.body);
    const init = await api(env.server, 'POST', `/api/v1/repositories/${NS}/${name}/trust`,
      { body: { root_passphrase: 'root-passphrase-e2e-removal', repository_passphrase: 'repo-passphrase-e2e-removal' } });
    assert.equal(init.status, 201, init.body);
    const { gun, root_key_id: rootKey, repository_key_id: repoKey } = init.json;
    const vaultBefore = await api(env.server, 'GET', '/api/v1/keys');
    const held = Object.fromEntries(vaultBefore.json.keys.map((k) => [k.id, k]));
    assert.ok(held[rootKey] && held[repoKey], `the vault holds both keys: ${vaultBefore.body}`);

    await withSession(env, 'removal-vault', async (s) => {
      await s.login();
      await s.goto(`/repositories/${NS}/${name}/delete`);
      await s.shot('step-1-vault-keys');
      const listed = await itemTexts(s.page.locator('#vault-keys'));
      // The keys tied to this GUN (the repository key); a global key (the root key) is not the repository's.
      const expected = [[rootKey, 'root'], [repoKey, 'targets']]
        .filter(([id]) => held[id].gun === gun)
        .map(([id, role]) => `${id.slice(0, 12)} ${role} key, added by admin`);
      assert.equal(held[repoKey].gun, gun, 'the repository key is tied to the GUN');
      assert.deepEqual([...listed].sort(), expected.sort(), `the vault's keys: ${JSON.stringify(listed)}`);
      assert.match((await itemTexts(s.page.locator('#lost')))[0], /^0 signed tags$/);

      const step3 = s.page.locator('#step-trust');
      const box = step3.getByLabel("Also delete this repository's keys from the vault", { exact: true });
      assert.equal(await box.isChecked(), false, 'keeping the keys is the default');
      assert.match(await step3.locator('.hint').innerText(), /Default: keep them/);
      await box.check();
      await step3.getByLabel(`Type ${NS}/${name} to confirm`, { exact: true }).fill(`${NS}/${name}`);
      await step3.scrollIntoViewIfNeeded();
      await s.shot('step-3-delete-keys-checked');
      const done = await s.navigate(() => step3.getByRole('button', { name: 'Delete trust data' }).click());
      await s.shot('step-3-done-keys-deleted');
      assert.equal(done.status(), 200);
      assert.equal(await notice(s.page), `Trust data of ${gun} deleted.`);
      assert.equal(await inspectStatus(env.server, gun), 404);

      // The keys tied to this GUN are gone; a global key (if any) may serve others and stays.
      const vaultAfter = await api(env.server, 'GET', '/api/v1/keys');
      const after = new Set(vaultAfter.json.keys.map((k) => k.id));
      const history = await itemTexts(s.page.locator('#history'));
      for (const id of [rootKey, repoKey]) {
        if (held[id].gun === gun) {
          assert.ok(!after.has(id), `${held[id].role} key ${id} deleted from the vault`);
          assert.ok(history.some((h) => h.includes(`admin: key.delete key ${id} deleted with the trust data`)),
            `the deletion of ${id} is audited: ${JSON.stringify(history)}`);
        } else {
          assert.ok(after.has(id), `global ${held[id].role} key ${id} kept`);
        }
      }
      assert.equal(await s.page.locator('#vault-keys').count(), 0, 'step 1 lists no key of the repository any more');
      assert.equal((await s.page.locator('#step-summary h3:has-text("Keys in the vault") + p').innerText()).trim(), 'None.');
    });
  });

  it('a read-only user sees no "Delete repository…"; the wizard and the deletions answer 403', async () => {
    const name = 'kept';
    const kept = await runSeed(env.server, name, 'one');
    const created = await api(env.server, 'POST', '/api/v1/users', { body: { username: READER.username, password: READER.password, admin: false } });
    assert.equal(created.status, 201, created.body);
    const member = await api(env.server, 'PUT', `/api/v1/namespaces/${NS}/members/${READER.username}`, { body: { role: 'read' } });
    assert.equal(member.status, 200, member.body);

    await withSession(env, 'removal-reader', async (s) => {
      await s.login(READER.username, READER.password);
      const page = await s.goto(`/repositories/${NS}/${name}`);
      await s.shot('repository-page');
      assert.equal(page.status(), 200);
      assert.equal((await s.page.locator('main dl.facts dd').nth(2).innerText()).trim(), 'read');
      assert.equal(await s.page.getByRole('link', { name: 'Delete repository…' }).count(), 0, 'no "Delete repository…"');
      assert.equal(await s.page.locator('main a[href$="/delete"]').count(), 0);
      // The backup is the metadata any puller may fetch: offered to readers too.
      assert.equal(await s.page.locator('#maintenance').getByRole('link', { name: 'Download trust backup' }).count(), 1);

      const wizard = await s.goto(`/repositories/${NS}/${name}/delete`);
      await s.shot('wizard-403');
      assert.equal(wizard.status(), 403);
      assert.equal(await s.page.locator('main form').count(), 0, 'no form');
      assert.equal(await s.page.locator('#step-summary').count(), 0, 'nothing of the wizard');
      assert.match(await s.page.locator('main p.alert').innerText(), /Only administrators of namespace "prod"/);
    }, { expectedStatuses: [403] });

    // Nor through the API.
    const trust = await api(env.server, 'DELETE', `/api/v1/repositories/${NS}/${name}/trust`, { as: READER, body: { confirm: `${NS}/${name}` } });
    assert.equal(trust.status, 403, trust.body);
    const repo = await api(env.server, 'DELETE', `/api/v1/repositories/${NS}/${name}`, { as: READER });
    assert.equal(repo.status, 403, repo.body);
    assert.equal(await inspectStatus(env.server, kept.gun), 200, 'the trust data is still there');
    assert.equal(await repositoryStatus(env.server, name), 200, 'the repository is still there');
  });
});
