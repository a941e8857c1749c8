// The first start without TRUSTDECK_ADMIN_PASSWORD: trustdeck generates the admin's password and logs
// it once; every page reminds the admin to change it until they have (at 1366 and 390 px).
//
// Screenshots: e2e/artifacts/firstrun-*.png
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { browserSuite, withSession } from './lib/suite.mjs';

browserSuite('firstrun', (env, it) => {
  it('the generated password is to be changed: a reminder on every page until it is', async () => {
    const generated = env.server.logs().match(/password=(\S+)/)?.[1];
    assert.ok(generated, 'the generated password is in the log');
    const NEW_PASSWORD = 'a-password-the-admin-chose-1';
    for (const width of [1366, 390]) {
      await withSession(env, `firstrun-${width}`, async (s) => {
        await s.page.setViewportSize({ width, height: width > 800 ? 900 : 844 });
        await s.login('admin', generated);
        for (const page of ['/repositories', '/repositories/new', '/audit']) {
          await s.goto(page);
          const reminder = s.page.locator('#change-password-reminder');
          assert.equal(await reminder.isVisible(), true, `${page}: the reminder`);
          assert.match(await reminder.innerText(), /the password trustdeck generated on its first start/);
        }
        await s.shot('reminder');
        if (width > 800) return;
        // On the phone, the admin follows the reminder and changes the password.
        await s.navigate(() => s.page.locator('#change-password-reminder').getByRole('link', { name: 'Change your password' }).click());
        assert.equal(s.pathname(), '/profile/keys');
        await s.page.getByLabel('Current password', { exact: true }).fill(generated);
        await s.page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
        await s.page.getByLabel('Repeat the new password', { exact: true }).fill(NEW_PASSWORD);
        await s.navigate(() => s.page.getByRole('button', { name: 'Change password' }).click());
        await s.shot('password-changed');
        for (const page of ['/repositories', '/profile/keys']) {
          await s.goto(page);
          assert.equal(await s.page.locator('#change-password-reminder').count(), 0, `${page}: no reminder once changed`);
        }
      });
    }
  });
}, { start: (slug) => startServer({ name: slug, env: { TRUSTDECK_ADMIN_PASSWORD: '' } }) });
