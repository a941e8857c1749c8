// One browser suite per test file: one trustdeck server and one chromium for the whole file,
// a fresh browser context (own cookies) for each test.
import assert from 'node:assert/strict';
import { after, before, describe, it as nodeIt } from 'node:test';
import { describeConsoleErrors, launchBrowser, missingPrerequisites, openSession } from './browser.mjs';
import { startServer } from './server.mjs';

/**
 * describe() for one file's browser tests. `body(env, it)` declares the tests with the `it` it is
 * given; env.server and env.browser are set once `before` has run. When chromium, playwright-core
 * or the binary is missing, every test is reported SKIPPED (t.skip, with the reason) after a loud
 * banner, and nothing is started. `start(slug)`, when given, starts the server instead of
 * startServer's defaults (and may set up what it needs first).
 */
export function browserSuite(name, body, { start } = {}) {
  const skip = missingPrerequisites();
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  describe(name, () => {
    const env = { server: null, browser: null };
    if (skip) {
      body(env, (title) => nodeIt(title, (t) => t.skip(skip)));
      return;
    }
    before(async () => {
      env.server = start ? await start(slug) : await startServer({ name: slug });
      env.browser = await launchBrowser();
    });
    after(async () => {
      await env.browser?.close();
      const exit = await env.server?.stop();
      if (exit && exit.code !== 0 && exit.signal !== 'SIGTERM') {
        console.error(`[e2e] ${name}: trustdeck exited with code ${exit.code} after SIGTERM; log: ${env.server.logPath}`);
      }
    });
    body(env, (title, fn) => nodeIt(title, { timeout: 120_000 }, fn));
  });
}

/**
 * Runs `fn(session)` in a fresh browser context. On failure: a screenshot named "FAILED" and the
 * server's log path in the error. Afterwards: no console errors on any page, except the
 * "Failed to load resource" lines for statuses listed in `expectedStatuses`.
 */
export async function withSession(env, prefix, fn, { expectedStatuses = [] } = {}) {
  const session = await openSession(env.browser, env.server, prefix);
  try {
    try {
      await fn(session);
    } catch (err) {
      await session.shot('FAILED').catch(() => {});
      err.message += `\n(page: ${session.page.url()}; server log: ${env.server.logPath})`;
      throw err;
    }
    const errors = session.unexpectedConsoleErrors({ expectedStatuses });
    assert.equal(errors.length, 0, `console errors on the pages visited:\n${describeConsoleErrors(errors)}`);
  } finally {
    await session.close();
  }
}
