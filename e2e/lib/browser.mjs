// Debian's chromium driven by playwright-core, plus the helpers every browser test shares:
// prerequisite check (skip loudly), pages that record console errors, screenshots, and
// "do this and give me the main-frame response" navigation.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ARTIFACTS_DIR, binaryPath } from './server.mjs';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function banner(lines) {
  const bar = '#'.repeat(88);
  console.error(['', bar, ...lines.map((l) => `## ${l}`), bar, ''].join('\n'));
}

/**
 * Returns false when the browser tests can run, else the reason they cannot (a string, to pass
 * as the `skip` option of describe/test). Prints a loud banner when something is missing.
 * With TRUSTDECK_E2E_STRICT=1 (set by .ci/run) a missing prerequisite throws instead: CI must
 * never pass without having driven the browser.
 */
export function missingPrerequisites() {
  const missing = [];
  const bin = binaryPath();
  if (!fs.existsSync(bin)) {
    missing.push(`trustdeck binary not installed at ${bin} (set TRUSTDECK_BIN, or run 'make build')`);
  }
  if (!fs.existsSync(CHROMIUM_PATH)) {
    missing.push(`chromium not installed at ${CHROMIUM_PATH} (run 'make deps' as root: apt-get install chromium)`);
  }
  try {
    createRequire(import.meta.url).resolve('playwright-core');
  } catch {
    missing.push("playwright-core not installed (run 'npm ci' or 'make deps')");
  }
  if (missing.length === 0) return false;
  const reason = `browser tests SKIPPED: ${missing.join('; ')}`;
  banner(['BROWSER TESTS NOT RUN', ...missing]);
  if (process.env.TRUSTDECK_E2E_STRICT === '1') {
    throw new Error(`TRUSTDECK_E2E_STRICT=1 and ${reason}`);
  }
  return reason;
}

/** Launches headless chromium (Debian's build; playwright never downloads a browser here). */
export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
  });
}

/**
 * A fresh browser context (own cookies) against `server`, and helpers bound to it.
 * `prefix` names this test's screenshots: e2e/artifacts/<prefix>-NN-<step>.png.
 */
export async function openSession(browser, server, prefix) {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    baseURL: server.baseURL,
    viewport: { width: 1280, height: 900 },
  });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(20_000);
  const page = await context.newPage();

  // Every console error and uncaught exception, with the page URL it happened on.
  const consoleErrors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      const loc = msg.location();
      consoleErrors.push({ url: page.url(), text: msg.text(), source: loc?.url || '' });
    }
  });
  page.on('pageerror', (err) => consoleErrors.push({ url: page.url(), text: `uncaught: ${err.message}`, source: '' }));

  let shotNo = 0;
  const visited = [];
  const session = {
    context,
    page,
    consoleErrors,
    visited,

    /** Full-page screenshot: e2e/artifacts/<prefix>-NN-<step>.png */
    async shot(step) {
      shotNo += 1;
      await fsp.mkdir(ARTIFACTS_DIR, { recursive: true });
      const safe = step.replace(/[^a-z0-9._-]+/gi, '-').replace(/^-+|-+$/g, '');
      const file = path.join(ARTIFACTS_DIR, `${prefix}-${String(shotNo).padStart(2, '0')}-${safe}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },

    /**
     * Runs `action` (a click, a key press, ...) and returns the response of the main-frame
     * navigation it causes (the final one, after any redirects), once the page has loaded.
     */
    async navigate(action) {
      const responseP = page.waitForResponse((r) => {
        const req = r.request();
        return req.isNavigationRequest() && req.frame() === page.mainFrame() &&
          !(r.status() >= 300 && r.status() < 400);
      });
      await action();
      const response = await responseP;
      await page.waitForLoadState('load');
      visited.push(page.url());
      return response;
    },

    /** page.goto with the page recorded in `visited`. */
    async goto(url) {
      const response = await page.goto(url, { waitUntil: 'load' });
      visited.push(page.url());
      return response;
    },

    /** Path of the current page (no origin, no query). */
    pathname() {
      return new URL(page.url()).pathname;
    },

    /**
     * Console errors, minus the ones the test expects: chromium logs
     * "Failed to load resource: ... status of 4xx" for a page deliberately answered with an
     * error status (e.g. 401 after a wrong password). Pass those statuses in `expectedStatuses`.
     */
    unexpectedConsoleErrors({ expectedStatuses = [] } = {}) {
      return consoleErrors.filter((e) => !expectedStatuses.some((s) =>
        e.text.includes(`Failed to load resource: the server responded with a status of ${s}`)));
    },

    /** Signs in through the login form. Returns the response of the page it lands on. */
    async login(username = server.adminUser, password = server.adminPassword) {
      await session.goto('/login');
      await page.getByLabel('Username', { exact: true }).fill(username);
      await page.getByLabel('Password', { exact: true }).fill(password);
      return session.navigate(() => page.getByRole('button', { name: 'Sign in' }).click());
    },

    async close() {
      await context.close();
    },
  };
  return session;
}

/** Formats console errors for an assertion message. */
export function describeConsoleErrors(errors) {
  return errors.map((e) => `  on ${e.url}: ${e.text}${e.source ? ` (${e.source})` : ''}`).join('\n');
}

/** A short random suffix for names the test creates. */
export function uniqueSuffix() {
  return Math.random().toString(36).slice(2, 8);
}
