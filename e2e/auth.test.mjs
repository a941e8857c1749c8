// Signing in and out: wrong password, keyboard-only sign-in, sign out, protected pages.
import assert from 'node:assert/strict';
import { browserSuite, withSession } from './lib/suite.mjs';

browserSuite('auth', (env, it) => {
  it('login page has labelled inputs, a CSRF field and a Sign in button', async () => {
    await withSession(env, 'auth-login-page', async (s) => {
      const res = await s.goto('/login');
      assert.equal(res.status(), 200);
      await s.shot('login-page');
      const user = s.page.getByLabel('Username', { exact: true });
      const pass = s.page.getByLabel('Password', { exact: true });
      assert.equal(await user.getAttribute('name'), 'username');
      assert.equal(await pass.getAttribute('name'), 'password');
      assert.equal(await pass.getAttribute('type'), 'password');
      const csrf = s.page.locator('form input[type="hidden"][name="_csrf"]');
      assert.ok((await csrf.count()) >= 1, 'login form has a hidden _csrf input');
      assert.ok((await csrf.first().inputValue()).length > 0, '_csrf has a value');
      await s.page.getByRole('button', { name: 'Sign in' }).waitFor();
    });
  });

  it('wrong password shows an error and stays on the login page; the right one signs in', async () => {
    await withSession(env, 'auth-wrong-password', async (s) => {
      await s.goto('/login');
      await s.page.getByLabel('Username', { exact: true }).fill(env.server.adminUser);
      await s.page.getByLabel('Password', { exact: true }).fill('definitely-not-the-password');
      await s.shot('login-filled-wrong-password');
      const res = await s.navigate(() => s.page.getByRole('button', { name: 'Sign in' }).click());
      await s.shot('login-wrong-password-error');
      assert.equal(res.status(), 401, 'wrong credentials answer 401');
      assert.equal(s.pathname(), '/login', 'still on the login page');
      const alert = s.page.getByRole('alert');
      await alert.first().waitFor();
      assert.match(await alert.first().innerText(), /Invalid username or password/);
      // The form is still there, usable for a second try.
      await s.page.getByLabel('Password', { exact: true }).waitFor();

      // Then the right password: lands on /repositories.
      await s.page.getByLabel('Username', { exact: true }).fill(env.server.adminUser);
      await s.page.getByLabel('Password', { exact: true }).fill(env.server.adminPassword);
      const ok = await s.navigate(() => s.page.getByRole('button', { name: 'Sign in' }).click());
      await s.shot('after-login-repositories');
      assert.equal(ok.status(), 200);
      assert.equal(s.pathname(), '/repositories');
      await s.page.getByRole('heading', { name: 'Repositories' }).first().waitFor();
    }, { expectedStatuses: [401] });
  });

  it('keyboard only: Tab from Username to Password, Enter submits the login form', async () => {
    await withSession(env, 'auth-keyboard', async (s) => {
      await s.goto('/login');
      await s.page.getByLabel('Username', { exact: true }).focus();
      await s.page.keyboard.type(env.server.adminUser);
      await s.page.keyboard.press('Tab');
      const focusedName = await s.page.evaluate(() => document.activeElement?.getAttribute('name'));
      assert.equal(focusedName, 'password', 'Tab moves from Username to Password');
      await s.page.keyboard.type(env.server.adminPassword);
      await s.shot('login-typed-with-keyboard');
      const res = await s.navigate(() => s.page.keyboard.press('Enter'));
      await s.shot('after-enter-repositories');
      assert.equal(res.status(), 200);
      assert.equal(s.pathname(), '/repositories');
      await s.page.getByRole('heading', { name: 'Repositories' }).first().waitFor();
    });
  });

  it('protected pages redirect to the login page when signed out', async () => {
    await withSession(env, 'auth-protected', async (s) => {
      for (const p of ['/repositories', '/repositories/new', '/admin/users']) {
        const res = await s.goto(p);
        assert.equal(s.pathname(), '/login', `${p} redirects to /login when signed out`);
        assert.equal(res.status(), 200);
      }
      await s.shot('protected-redirected-to-login');
    });
  });

  it('Sign out ends the session: protected pages then redirect to login', async () => {
    await withSession(env, 'auth-logout', async (s) => {
      await s.login();
      assert.equal(s.pathname(), '/repositories');
      await s.shot('signed-in');
      const signOut = s.page.getByRole('button', { name: 'Sign out' });
      await signOut.waitFor();
      // A POST form with a CSRF token, not a link.
      const form = s.page.locator('form:has(button:text-is("Sign out"))');
      assert.equal((await form.getAttribute('method'))?.toLowerCase(), 'post');
      assert.equal(new URL(await form.evaluate((f) => f.action)).pathname, '/logout');
      assert.ok((await form.locator('input[name="_csrf"]').count()) === 1, 'Sign out form carries _csrf');

      const cookiesBefore = await s.context.cookies();
      await s.navigate(() => signOut.click());
      await s.shot('signed-out');
      assert.equal(s.pathname(), '/login', 'signing out lands on the login page');

      await s.goto('/repositories');
      assert.equal(s.pathname(), '/login', '/repositories redirects to /login after sign out');
      await s.shot('repositories-after-logout-redirects');

      // The old session cookie is revoked on the server, not only deleted in this browser.
      const replay = await env.browser.newContext({ ignoreHTTPSErrors: true, baseURL: env.server.baseURL });
      try {
        await replay.addCookies(cookiesBefore);
        const page = await replay.newPage();
        await page.goto('/repositories');
        assert.equal(new URL(page.url()).pathname, '/login', 'a replayed pre-logout session cookie is rejected');
      } finally {
        await replay.close();
      }
    });
  });
});
