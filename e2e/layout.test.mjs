// Layout at a laptop's width (1366 px) and a phone's (390 px): every main page fits the viewport
// (no horizontal scrolling of the page: wide tables scroll inside their own box), the navigation
// and Sign out are reachable on the header bar (behind a "Menu" disclosure on a phone, which works
// without JavaScript), and headings do not break in the middle of a word.
//
// Screenshots: e2e/artifacts/layout-<width>-<page>.png, full page, for every page at both widths.
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { ARTIFACTS_DIR, api } from './lib/server.mjs';
import { seedRepository } from './lib/seed.mjs';
import { browserSuite, withSession } from './lib/suite.mjs';

const WIDTHS = [1366, 390];

/** The pages of the tour, by name (the screenshots' names). */
const PAGES = [
  ['list', '/repositories'],
  ['repository', '/repositories/prod/nginx'],
  ['repository-edge', '/repositories/prod/edge'],
  ['tag', '/repositories/prod/nginx/tags?tag=1'],
  ['add-signer', '/repositories/prod/nginx/signers/new'],
  ['revoke-signer', '/repositories/prod/nginx/signers/jeff/revoke'],
  ['renew', '/repositories/prod/nginx/trust/renew?role=targets'],
  ['rotate-root', '/repositories/prod/nginx/trust/rotate-root'],
  ['audit', '/audit'],
  ['removal-wizard', '/repositories/prod/nginx/delete'],
  ['new-repository', '/repositories/new'],
  ['users', '/admin/users'],
  ['vault', '/keys'],
  ['my-keys', '/profile/keys'],
];

/** The elements that stick out of the viewport on the right, innermost first (for the message). */
function overflowing(page) {
  return page.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll('body *')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.right <= window.innerWidth + 0.5) continue;
      // Inside a box that scrolls sideways by itself: not the page's overflow.
      let p = el.parentElement;
      let contained = false;
      for (; p && p !== document.body; p = p.parentElement) {
        const ox = getComputedStyle(p).overflowX;
        if ((ox === 'auto' || ox === 'scroll' || ox === 'hidden') && p.getBoundingClientRect().right <= window.innerWidth + 0.5) {
          contained = true;
          break;
        }
      }
      if (contained) continue;
      const cls = el.className && typeof el.className === 'string' ? `.${el.className.trim().split(/\s+/).join('.')}` : '';
      out.push(`${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${cls} right=${Math.round(r.right)}`);
    }
    return out.reverse().slice(0, 12);
  });
}

browserSuite('layout', (env, it) => {
  let seeded = null;
  function seed() {
    seeded ??= (async () => {
      await seedRepository(env.server, 'prod/nginx', 'seed');
      await seedRepository(env.server, 'prod/edge', 'edge');
      // A repository with a long name, and a namespace admin: the list and the users page have rows.
      const long = await api(env.server, 'POST', '/api/v1/repositories', { body: { namespace: 'platform-engineering', name: 'very-long-repository-name-for-the-payments-service' } });
      assert.equal(long.status, 201, long.body);
      // An audit event with a long detail (a 64-character key ID): the audit must still fit at 1366 px.
      const keys = await api(env.server, 'GET', '/api/v1/keys');
      for (const k of keys.json?.keys ?? []) await api(env.server, 'GET', `/api/v1/keys/${k.id}`);
    })();
    return seeded;
  }

  for (const width of WIDTHS) {
    it(`at ${width} px every main page fits the width; the navigation and Sign out are on the bar`, async () => {
      await seed();
      await withSession(env, `layout-${width}`, async (s) => {
        await s.page.setViewportSize({ width, height: width > 800 ? 900 : 844 });
        await s.login();
        const problems = [];
        for (const [name, url] of PAGES) {
          const res = await s.goto(url);
          assert.equal(res.status(), 200, `GET ${url}`);
          await s.page.screenshot({ path: await shotPath(`layout-${width}-${name}`), fullPage: true });
          const { scrollWidth, innerWidth } = await s.page.evaluate(() => ({
            scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
          }));
          if (scrollWidth > innerWidth) {
            problems.push(`${name} (${url}): the page is ${scrollWidth} px wide in a ${innerWidth} px viewport; sticking out: ${(await overflowing(s.page)).join(', ')}`);
          }
          // Headings wrap between words only: no heading is narrower than its longest word.
          const broken = await s.page.evaluate(() => [...document.querySelectorAll('h1, h2')]
            .filter((h) => ['break-all', 'anywhere'].includes(getComputedStyle(h).wordBreak) || getComputedStyle(h).overflowWrap === 'anywhere')
            .map((h) => h.textContent.trim().slice(0, 40)));
          if (broken.length > 0) problems.push(`${name}: headings may break inside words: ${broken.join(' | ')}`);
          await assertNavigation(s, width, name, problems);
        }
        assert.deepEqual(problems, [], `at ${width} px:\n${problems.join('\n')}`);
      });
    });
  }

  it('at 390 px the menu opens without JavaScript and leads to the key vault', async () => {
    await seed();
    const context = await env.browser.newContext({
      ignoreHTTPSErrors: true, baseURL: env.server.baseURL, viewport: { width: 390, height: 844 }, javaScriptEnabled: false,
    });
    try {
      const page = await context.newPage();
      await page.goto('/login');
      await page.getByLabel('Username', { exact: true }).fill(env.server.adminUser);
      await page.getByLabel('Password', { exact: true }).fill(env.server.adminPassword);
      await Promise.all([page.waitForURL('**/repositories'), page.getByRole('button', { name: 'Sign in' }).click()]);
      const vault = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Key vault' });
      assert.equal(await vault.isVisible(), false, 'the menu is closed at first');
      await page.locator('header.top summary').click();
      assert.equal(await vault.isVisible(), true, 'the menu opened');
      await page.screenshot({ path: await shotPath('layout-390-menu-open-no-js'), fullPage: true });
      await Promise.all([page.waitForURL('**/keys'), vault.click()]);
      assert.equal(await page.locator('h1').innerText(), 'Key vault');
    } finally {
      await context.close();
    }
  });
});

/** e2e/artifacts/<name>.png */
async function shotPath(name) {
  await fsp.mkdir(ARTIFACTS_DIR, { recursive: true });
  return path.join(ARTIFACTS_DIR, `${name}.png`);
}

/**
 * Every entry of the main navigation and Sign out can be reached and lies on the header bar, inside
 * the viewport: on a phone after opening the menu (then closed again for the next page).
 */
async function assertNavigation(s, width, name, problems) {
  const header = s.page.locator('header.top');
  const menu = header.locator('details.menu');
  const summary = menu.locator('summary');
  const phone = await summary.isVisible();
  if (width <= 600 && !phone) problems.push(`${name}: no "Menu" at ${width} px`);
  if (width > 600 && phone) problems.push(`${name}: the navigation is collapsed at ${width} px`);
  if (phone) await summary.click();
  const bar = await header.boundingBox();
  const targets = [
    ...['Repositories', 'Audit', 'Users', 'Key vault', 'My keys'].map((label) =>
      [label, header.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true })]),
    ['Sign out', header.getByRole('button', { name: 'Sign out' })],
  ];
  for (const [label, loc] of targets) {
    if (!(await loc.isVisible())) {
      problems.push(`${name}: "${label}" is not visible`);
      continue;
    }
    const box = await loc.boundingBox();
    if (box.x < 0 || box.x + box.width > width + 0.5 || box.y < bar.y - 0.5 || box.y + box.height > bar.y + bar.height + 0.5) {
      problems.push(`${name}: "${label}" is off the header bar: ${JSON.stringify(box)} bar ${JSON.stringify(bar)}`);
    }
    // Readable: its colour differs from the bar's.
    const [fg, bg] = await loc.evaluate((el) => {
      const h = el.closest('header');
      return [getComputedStyle(el).color, getComputedStyle(h).backgroundColor];
    });
    if (fg === bg) problems.push(`${name}: "${label}" is ${fg} on ${bg}`);
  }
  if (phone) await summary.click();
}
