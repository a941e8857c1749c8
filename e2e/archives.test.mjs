// Archived repositories in the browser: an administrator captures prod/nginx (the seed's example:
// tag 1 signed by jeff and ian, tag 2 by jeff, only-jeff unreleased; made by bin/trustdeck-e2e-seed,
// scenario "seed") from trustdeck's own Notary API, with credentials, through "Capture from a Notary
// server"; the archived repository's page shows the signed tags, signers, keys, expiry as of the
// capture, docker's pretty text and the verification; the archive downloads; "Import an archive"
// takes the download (a second capture in the history) and refuses a tampered copy naming the role;
// a list of GUNs is captured with progress and per-GUN results; the repository list shows the
// archived repository with its badge; the archive is deleted after confirmation.
//
// Screenshots: e2e/artifacts/archives-*.png.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { before } from 'node:test';
import { promisify } from 'node:util';
import { ARTIFACTS_DIR, REPO_ROOT, api } from './lib/server.mjs';
import { browserSuite, withSession } from './lib/suite.mjs';

const run = promisify(execFile);
const SEED_BIN = process.env.TRUSTDECK_SEED_BIN || path.join(REPO_ROOT, 'bin', 'trustdeck-e2e-seed');

browserSuite('archives', (env, it) => {
  before(async () => {
    for (const f of await fsp.readdir(ARTIFACTS_DIR).catch(() => [])) {
      if (/^archives-.*\.png$/.test(f)) await fsp.rm(path.join(ARTIFACTS_DIR, f), { force: true });
    }
  });

  it('captures, shows, downloads, imports and deletes an archived repository', async () => {
    assert.ok(fs.existsSync(SEED_BIN), `seed program not built at ${SEED_BIN} (make e2e builds it)`);
    const { server } = env;
    const gun = `${server.hostPort}/prod/nginx`;
    const seeded = await run(SEED_BIN, ['--url', server.baseURL, '--ca', path.join(server.dataDir, 'tls', 'ca.crt'),
      '--user', server.adminUser, '--password', server.adminPassword, '--gun', gun, 'seed'], { timeout: 60_000 });
    assert.ok(seeded.stdout.includes('only-jeff'), seeded.stdout);
    const live = await api(server, 'GET', `/api/v1/trust/inspect?ref=${encodeURIComponent(gun)}&pretty=1`);
    assert.equal(live.status, 200, live.body);
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'archives-'));

    try {
      await withSession(env, 'archives', async (s) => {
        const { page } = s;
        await s.login();
        await s.goto('/archives');
        await s.shot('empty-list');
        await s.navigate(() => page.getByRole('link', { name: 'Capture from a Notary server' }).click());
        await page.getByLabel('Notary server', { exact: true }).fill(server.baseURL);
        await page.getByLabel('GUNs', { exact: true }).fill(gun);
        await page.getByLabel('Username (optional)', { exact: true }).fill(server.adminUser);
        await page.getByLabel('Password (optional)', { exact: true }).fill(server.adminPassword);
        await s.shot('capture-form');
        let res = await s.navigate(() => page.getByRole('button', { name: 'Capture' }).click());
        assert.equal(res.status(), 200);
        assert.match(s.pathname(), /^\/archives\/\d+$/);
        const firstPath = s.pathname();
        await s.shot('archived-repository');

        // What the live page shows, as of the capture, and the verification.
        assert.match(await page.getByRole('status').first().innerText(), new RegExp(`Captured ${gun.replace(/[.]/g, '\\.')}`));
        assert.equal(await page.locator('h1 .badge.archived').innerText(), 'archived');
        const verification = page.locator('#verification');
        assert.match(await verification.innerText(), /valid/);
        assert.match(await page.locator('#trust-anchor').innerText(), /trust on first use/);
        const tags = await page.locator('#signed-tags tbody tr').allInnerTexts();
        assert.equal(tags.length, 2, tags.join('\n'));
        assert.match(tags[0], /^1\t[0-9a-f]{64}.*\tian, jeff$/s);
        assert.match(tags[1], /^2\t[0-9a-f]{64}.*\tjeff$/s);
        assert.match(await page.locator('#unreleased').innerText(), /only-jeff/);
        assert.match(await page.locator('#signers').innerText(), /ian[\s\S]*jeff/);
        assert.match(await page.locator('#expiry h2').innerText(), /as of \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
        assert.equal(await page.locator('#pretty pre').textContent(), live.body);

        // Download: a backup of the repository.
        const [download] = await Promise.all([page.waitForEvent('download'),
          page.getByRole('link', { name: 'Download archive' }).click()]);
        const saved = path.join(dir, download.suggestedFilename());
        await download.saveAs(saved);
        assert.match(download.suggestedFilename(), /-trust-\d{8}T\d{6}Z\.tar\.gz$/);

        // Import it: a second archive of the repository, checked against the first's root.
        await s.goto('/archives');
        await s.navigate(() => page.getByRole('link', { name: 'Import an archive' }).click());
        await page.getByLabel('Archive (.tar.gz)', { exact: true }).setInputFiles(saved);
        await s.shot('import-form');
        res = await s.navigate(() => page.getByRole('button', { name: 'Import' }).click());
        assert.equal(res.status(), 200);
        assert.notEqual(s.pathname(), firstPath);
        assert.match(await page.getByRole('status').first().innerText(), /Imported the archive of/);
        assert.equal(await page.locator('#history li').count(), 2);
        assert.match(await page.locator('#root-chain').innerText(), /same root\.json/);
        await s.shot('imported');

        // A tampered copy (one byte of targets/releases' signature) is refused, naming the role and the check.
        const unpacked = path.join(dir, 'unpacked');
        await fsp.mkdir(unpacked);
        await run('tar', ['-xzf', saved, '-C', unpacked]);
        const [top] = await fsp.readdir(unpacked);
        const releases = path.join(unpacked, top, 'targets', 'releases.json');
        const text = await fsp.readFile(releases, 'utf8');
        const at = text.indexOf('"sig":"') + '"sig":"'.length;
        await fsp.writeFile(releases, text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1));
        const tampered = path.join(dir, 'tampered.tar.gz');
        await run('tar', ['-czf', tampered, '-C', unpacked, top]);
        await s.goto('/archives/import');
        await page.getByLabel('Archive (.tar.gz)', { exact: true }).setInputFiles(tampered);
        res = await s.navigate(() => page.getByRole('button', { name: 'Import' }).click());
        assert.equal(res.status(), 422);
        const alert = await page.locator('#import-error').innerText();
        assert.match(alert, /fails verification/);
        assert.match(alert, /targets\/releases: hash: /);
        await s.shot('import-refused');

        // Several GUNs at once: progress, then each one's result.
        await s.goto('/archives/capture');
        await page.getByLabel('Notary server', { exact: true }).fill(server.baseURL);
        await page.getByLabel('GUNs', { exact: true }).fill(`${gun}\n${server.hostPort}/prod/missing`);
        await page.getByLabel('Username (optional)', { exact: true }).fill(server.adminUser);
        await page.getByLabel('Password (optional)', { exact: true }).fill(server.adminPassword);
        await s.navigate(() => page.getByRole('button', { name: 'Capture' }).click());
        assert.match(s.pathname(), /^\/archives\/captures\/[0-9a-f]+$/);
        await page.locator('#progress', { hasText: 'Done: 1 captured, 1 failed.' }).waitFor({ timeout: 20_000 });
        const results = await page.locator('#results tbody tr').allInnerTexts();
        assert.match(results[0], /captured\s+archive #\d+/);
        assert.match(results[1], /failed\s+The Notary server at .* has no trust data/);
        await s.shot('bulk-capture');

        // The repository list shows it among the archived repositories.
        await s.goto('/repositories');
        const row = page.locator('#archived tbody tr', { hasText: gun });
        assert.equal(await row.locator('.badge.archived').innerText(), 'archived');
        assert.match(await row.innerText(), /\d{4}-\d\d-\d\d \d\d:\d\d UTC/);
        await s.shot('repository-list');

        // Delete the first capture, after confirmation.
        await s.goto(firstPath);
        await s.navigate(() => page.getByRole('link', { name: 'Delete archive…' }).click());
        await s.shot('delete-confirm');
        page.once('dialog', (d) => d.accept());
        await s.navigate(() => page.getByRole('button', { name: 'Delete this archive' }).click());
        assert.equal(s.pathname(), '/archives');
        assert.match(await page.getByRole('status').first().innerText(), /deleted/);
        assert.equal(await page.locator(`a[href="${firstPath}"]`).count(), 0);
        await s.shot('deleted');
      }, { expectedStatuses: [422] });
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});
