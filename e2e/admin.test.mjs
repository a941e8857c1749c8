// Admin: create a user, give them a namespace role, sign in as them.
import assert from 'node:assert/strict';
import { uniqueSuffix } from './lib/browser.mjs';
import { api } from './lib/server.mjs';
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
      // Users are picked from the list of accounts.
      await roleForm.getByLabel('Username', { exact: true }).selectOption(username);
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

  it('admin disables the user: their live session ends and a docker login is refused, until enabled again', async () => {
    const scope = `repository:${env.server.hostPort}/${namespace}/app:pull`;
    const dockerLogin = () => api(env.server, 'GET', `/auth/token?scope=${encodeURIComponent(scope)}`,
      { as: { username, password } });
    assert.equal((await dockerLogin()).status, 200, 'docker login works before');
    await withSession(env, 'admin-disable-user', async (user) => {
      await user.login(username, password);
      assert.equal(user.pathname(), '/repositories');
      await withSession(env, 'admin-disable', async (s) => {
        await s.login();
        await s.goto('/admin/users');
        await s.navigate(() => s.page.getByRole('link', { name: username, exact: true }).click());
        await s.shot('user-page');
        assert.equal(s.pathname(), `/admin/users/${username}`);
        const disabled = await s.navigate(() => s.page.getByRole('button', { name: `Disable ${username}` }).click());
        await s.shot('user-disabled');
        assert.equal(disabled.status(), 200);
        assert.match(await s.page.getByRole('status').first().innerText(), /is disabled: their sessions ended/);
        assert.match(await s.page.locator('h1').innerText(), /disabled/);
      });
      // The user's next click lands on the login page; signing in again is refused with a reason.
      await user.navigate(() => user.page.getByRole('link', { name: 'My keys' }).click());
      assert.equal(user.pathname(), '/login', 'the live session ended');
      await user.page.getByLabel('Username', { exact: true }).fill(username);
      await user.page.getByLabel('Password', { exact: true }).fill(password);
      const refused = await user.navigate(() => user.page.getByRole('button', { name: 'Sign in' }).click());
      await user.shot('sign-in-refused');
      assert.equal(refused.status(), 403);
      assert.match(await user.page.getByRole('alert').innerText(), /disabled/);
    }, { expectedStatuses: [403] });
    assert.equal((await dockerLogin()).status >= 400, true, 'docker login is refused');

    const enabled = await api(env.server, 'PATCH', `/api/v1/users/${username}`, { body: { disabled: false } });
    assert.equal(enabled.status, 200, enabled.body);
    assert.equal((await dockerLogin()).status, 200, 'docker login works again');
  });
});
