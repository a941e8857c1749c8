// "Download all trust backups" on the repository list (/repositories/backup): an administrator with
// prod/nginx (the seed's end state, made by bin/trustdeck-e2e-seed, scenario "one") and prod/empty
// (no trust data) clicks the button; the download is one gzip'd tar that GNU tar unpacks, with
// prod/nginx's backup in its folder and a manifest listing both repositories. An account without
// any repository is not offered the button.
//
// Screenshots: e2e/artifacts/backupall-*.png.
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
const NOBODY = { username: 'nora', password: 'nora-password-e2e-1' };

browserSuite('backup all', (env, it) => {
  before(async () => {
    for (const f of await fsp.readdir(ARTIFACTS_DIR).catch(() => [])) {
      if (/^backupall-.*\.png$/.test(f)) await fsp.rm(path.join(ARTIFACTS_DIR, f), { force: true });
    }
  });

  it('the list page downloads one archive with every repository', async () => {
    assert.ok(fs.existsSync(SEED_BIN), `seed program not built at ${SEED_BIN} (make e2e builds it)`);
    const { server } = env;
    const gun = `${server.hostPort}/prod/nginx`;
    await run(SEED_BIN, ['--url', server.baseURL, '--ca', path.join(server.dataDir, 'tls', 'ca.crt'), '--user', server.adminUser,
      '--password', server.adminPassword, '--gun', gun, 'one'], { timeout: 60_000 });
    const created = await api(server, 'POST', '/api/v1/repositories', { body: { namespace: 'prod', name: 'empty' } });
    assert.equal(created.status, 201, created.body);
    const user = await api(server, 'POST', '/api/v1/users', { body: { username: NOBODY.username, password: NOBODY.password, admin: false } });
    assert.equal(user.status, 201, user.body);

    await withSession(env, 'backupall', async (s) => {
      await s.login();
      await s.goto('/repositories');
      await s.shot('list');
      const link = s.page.getByRole('link', { name: 'Download all trust backups' });
      assert.equal(await link.getAttribute('href'), '/repositories/backup');
      assert.equal(await link.getAttribute('download'), '', 'the link downloads');
      const [download] = await Promise.all([s.page.waitForEvent('download'), link.click()]);
      const saved = await download.path();
      assert.ok(saved, `download failed: ${await download.failure()}`);
      const filename = download.suggestedFilename();
      assert.match(filename, /^trust-backups-\d{8}T\d{6}Z\.tar\.gz$/);
      const top = filename.slice(0, -'.tar.gz'.length);

      // GNU tar unpacks it: one top folder, prod/nginx's backup in its folder, the manifest last.
      const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'backupall-'));
      try {
        await run('tar', ['-xzf', saved, '-C', dir]);
        assert.deepEqual(await fsp.readdir(dir), [top]);
        const folder = gun.replace(/[/:]/g, '_');
        assert.deepEqual((await fsp.readdir(path.join(dir, top))).sort(), ['README.txt', folder, 'manifest.json'].sort());
        const repoFiles = (await fsp.readdir(path.join(dir, top, folder), { recursive: true })).sort();
        for (const f of ['root.json', 'targets.json', 'snapshot.json', 'timestamp.json', 'targets/releases.json',
          'manifest.json', 'README.txt']) {
          assert.ok(repoFiles.includes(f), `${folder}/${f} in ${JSON.stringify(repoFiles)}`);
        }
        const manifest = JSON.parse(await fsp.readFile(path.join(dir, top, 'manifest.json'), 'utf8'));
        assert.equal(manifest.created_by, 'admin');
        assert.deepEqual(manifest.repositories.map((r) => [r.repository, r.status, r.folder ?? '']),
          [['prod/empty', 'no_trust_data', ''], ['prod/nginx', 'backed_up', folder]]);
        const inner = JSON.parse(await fsp.readFile(path.join(dir, top, folder, 'manifest.json'), 'utf8'));
        assert.equal(inner.gun, gun);
      } finally {
        await fsp.rm(dir, { recursive: true, force: true });
      }
    });

    await withSession(env, 'backupall-nobody', async (s) => {
      await s.login(NOBODY.username, NOBODY.password);
      await s.goto('/repositories');
      await s.shot('list-without-repositories');
      assert.equal(await s.page.getByRole('link', { name: 'Download all trust backups' }).count(), 0);
    });
  });
});
