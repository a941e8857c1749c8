// The audit log, readable: each event says what happened in words ("signed 1 (sha256:…) in
// targets/releases"), links to its repository, keeps its time on one line, and filters by
// repository, actor, action and days, at 1366 and 390 px.
//
// Screenshots: e2e/artifacts/audit-*.png
import assert from 'node:assert/strict';
import { seedRepository } from './lib/seed.mjs';
import { browserSuite, withSession } from './lib/suite.mjs';

browserSuite('audit', (env, it) => {
  let seeded = null;
  const seed = () => (seeded ??= (async () => ({
    nginx: await seedRepository(env.server, 'prod/nginx', 'seed'),
    plain: await seedRepository(env.server, 'prod/plain', 'none'),
  }))());

  it('events say what was signed where, link to the repository and filter by repository, action and day', async () => {
    const { nginx } = await seed();
    await withSession(env, 'audit-1366', async (s) => {
      await s.page.setViewportSize({ width: 1366, height: 900 });
      await s.login();
      await s.goto('/audit');
      await s.shot('all');
      const text = await s.page.locator('table.audit').innerText();
      const short = (d) => `sha256:${d.slice(0, 12)}…`;
      assert.ok(text.includes(`signed 1 (${short(nginx.digests['1'])}), 2 (${short(nginx.digests['2'])}) in targets/releases`),
        `the seed's signatures in words:\n${text}`);
      assert.ok(text.includes(`only-jeff (${short(nginx.digests['only-jeff'])}) in targets/jeff`), 'the unreleased one too');
      // Times stay on one line (the date and the time), their age under them.
      const lines = await s.page.locator('table.audit td.when time').evaluateAll((ts) =>
        ts.map((t) => Math.round(t.getBoundingClientRect().height / parseFloat(getComputedStyle(t).lineHeight))));
      assert.ok(lines.every((n) => n === 1), `every time on one line: ${lines}`);
      assert.ok(await s.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the audit fits 1366 px');

      // Filter: prod/nginx, what was published, today.
      await s.page.getByLabel('Repository', { exact: true }).fill('prod/nginx');
      await s.page.getByLabel('What', { exact: true }).selectOption({ label: 'published trust data' });
      const today = new Date().toISOString().slice(0, 10);
      await s.page.getByLabel('From', { exact: true }).fill(today);
      await s.page.getByLabel('To', { exact: true }).fill(today);
      const filtered = await s.navigate(() => s.page.getByRole('button', { name: 'Filter' }).click());
      await s.shot('filtered');
      assert.equal(filtered.status(), 200);
      const rows = await s.page.locator('table.audit tbody tr').evaluateAll((trs) => trs.map((tr) => tr.innerText));
      assert.ok(rows.length >= 2, `the seed's publications of prod/nginx: ${rows.length}`);
      assert.ok(rows.every((r) => r.includes('trust.update') && r.includes('prod/nginx')), rows.join('\n'));
      assert.ok(!rows.some((r) => r.includes('prod/plain')), 'nothing of prod/plain');

      // The repository is a link.
      await s.navigate(() => s.page.locator('table.audit tbody tr').first().getByRole('link').click());
      assert.equal(s.pathname(), '/repositories/prod/nginx');
    });
  });

  it('on a phone the audit scrolls inside its box, and a filter that matches nothing says so', async () => {
    await seed();
    await withSession(env, 'audit-390', async (s) => {
      await s.page.setViewportSize({ width: 390, height: 844 });
      await s.login();
      await s.goto('/audit');
      await s.shot('all');
      assert.ok(await s.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the page fits 390 px');
      await s.goto('/audit?actor=nobody-at-all');
      await s.shot('nothing');
      assert.match(await s.page.locator('main .empty').innerText(), /No event matches these filters/);
    });
  });
});
