// Admin: create a user, give them a namespace role, sign in as them.
import assert from 'node:assert/strict';
import { uniqueSuffix } from './lib/browser.mjs';
import { browserSuite, withSession } from './lib/suite.mjs';

browserSuite('admin', (env, it) => {
  const username = `dev${uniqueSuffix()}`;
  const password = `pw-${uniqueSuffix()}-${uniqueSuffix()}`;
  const namespace = `team${uniqueSuffix()}`;

  it('admin creates a user and sets a namespace role', async () => {
    await withSession(env, 'admin-users', async (s) => {
      await s.login();
      const res = await s.goto('/admin/users');
      assert.equal(res.status(), 200);
      await s.shot('users-list');
      assert.match(await s.page.locator('main').innerText(), /\badmin\b/, 'the admin user is listed');

      const createForm = s.page.locator('form:has(button:text-is("Create user"))');
      await createForm.getByLabel('Username', { exact: true }).fill(username);
      await createForm.getByLabel('Password', { exact: true }).fill(password);
      const globalAdmin = createForm.getByLabel('Global administrator');
      assert.equal(await globalAdmin.getAttribute('type'), 'checkbox');
      assert.equal(await globalAdmin.isChecked(), false);
      await s.shot('create-user-filled');
      const created = await s.navigate(() => createForm.getByRole('button', { name: 'Create user' }).click());
      await s.shot('user-created');
      assert.equal(created.status(), 200);
      assert.match(await s.page.locator('main').innerText(), new RegExp(`\\b${username}\\b`), 'new user listed');

      await s.goto('/admin/users');
      const roleForm = s.page.locator('form:has(button:text-is("Set role"))');
      await roleForm.getByLabel('Username', { exact: true }).fill(username);
      await roleForm.getByLabel('Namespace', { exact: true }).fill(namespace);
      const role = roleForm.getByLabel('Role', { exact: true });
      const options = await role.locator('option').evaluateAll((os) => os.map((o) => o.value));
      for (const r of ['read', 'write', 'admin']) assert.ok(options.includes(r), `Role offers ${r}: ${options}`);
      await role.selectOption('write');
      await s.shot('set-role-filled');
      const set = await s.navigate(() => roleForm.getByRole('button', { name: 'Set role' }).click());
      await s.shot('role-set');
      assert.equal(set.status(), 200);
      assert.match(await s.page.locator('main').innerText(), new RegExp(namespace), 'the grant is shown');
    });
  });

  it('the new user signs in, and is not an administrator', async () => {
    await withSession(env, 'admin-new-user', async (s) => {
      const res = await s.login(username, password);
      await s.shot('new-user-signed-in');
      assert.equal(res.status(), 200);
      assert.equal(s.pathname(), '/repositories');
      const admin = await s.goto('/admin/users');
      await s.shot('new-user-admin-page');
      assert.ok(admin.status() === 403 || admin.status() === 404, `non-admin gets 403/404 on /admin/users, got ${admin.status()}`);
      assert.equal(await s.page.getByRole('button', { name: 'Create user' }).count(), 0, 'no admin form for a non-admin');
    }, { expectedStatuses: [403, 404] });
  });
});
