// Starts the real trustdeck binary for a browser test: a free port on loopback, a temporary
// data directory (and, with $TRUSTDECK_DATABASE, a new PostgreSQL database), a random admin
// password; waits for /healthz; stops it with SIGTERM.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// The PostgreSQL pass ($TRUSTDECK_DATABASE) keeps its own screenshots and logs beside the first pass's.
export const ARTIFACTS_DIR = path.join(REPO_ROOT, 'e2e', 'artifacts', ...(process.env.TRUSTDECK_DATABASE ? ['postgres'] : []));

/** Path of the binary under test: $TRUSTDECK_BIN, else <repo>/bin/trustdeck. */
export function binaryPath() {
  return process.env.TRUSTDECK_BIN || path.join(REPO_ROOT, 'bin', 'trustdeck');
}

/** Asks the kernel for a free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A GET over HTTPS. `ca` (PEM) verifies the server; without it the certificate is not checked
 * (used only while the server is starting and its CA may not exist yet).
 */
export function httpsGet(url, { ca, timeoutMs = 5000, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const agent = new https.Agent(ca ? { ca } : { rejectUnauthorized: false });
    const req = https.get(url, { agent, headers, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        agent.destroy();
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs}ms: GET ${url}`)));
    req.on('error', (err) => {
      agent.destroy();
      reject(err);
    });
  });
}

/**
 * The store of a new server. Without $TRUSTDECK_DATABASE: SQLite in its data directory (no flag).
 * With it (a PostgreSQL URL whose user may create databases, as `withpg` gives: the browser tests'
 * PostgreSQL pass), a new database of its own on that PostgreSQL server, made with psql, so that
 * servers never see each other's data. Returns the environment to start trustdeck with.
 */
function databaseEnv(port) {
  const base = process.env.TRUSTDECK_DATABASE;
  if (!base) return {};
  const name = `trustdeck_e2e_${port}_${randomBytes(4).toString('hex')}`;
  execFileSync(process.env.PSQL || 'psql', [base, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', `CREATE DATABASE ${name}`],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  const url = new URL(base);
  url.pathname = `/${name}`;
  return { TRUSTDECK_DATABASE: url.toString() };
}

const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

/**
 * Starts `trustdeck serve`. Resolves once GET /healthz answers 200.
 * Returns { baseURL, port, dataDir, adminUser, adminPassword, ca, logs(), stop() }.
 */
export async function startServer({ name = 'server', readyTimeoutMs = 60_000, extraArgs = [], env = {}, adminPassword: givenPassword } = {}) {
  const bin = binaryPath();
  const port = await freePort();
  const hostPort = `127.0.0.1:${port}`;
  const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'trustdeck-e2e-'));
  const adminPassword = givenPassword || `e2e-${randomBytes(12).toString('hex')}`;
  const args = ['serve', '--addr', hostPort, '--data', dataDir, '--public-host', hostPort, ...extraArgs];

  await fsp.mkdir(ARTIFACTS_DIR, { recursive: true });
  const logPath = path.join(ARTIFACTS_DIR, `${name}.server.log`);
  const logFile = fs.createWriteStream(logPath);
  let output = '';
  const child = spawn(bin, args, {
    cwd: dataDir,
    env: { ...process.env, TRUSTDECK_ADMIN_PASSWORD: adminPassword, ...databaseEnv(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      running.delete(child);
      resolve(exited);
    });
  });
  const collect = (chunk) => {
    const s = chunk.toString('utf8');
    output += s;
    logFile.write(s);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  child.on('error', (err) => collect(`spawn error: ${err.message}\n`));

  const baseURL = `https://${hostPort}`;
  const server = {
    baseURL,
    port,
    hostPort,
    dataDir,
    adminUser: 'admin',
    adminPassword,
    ca: null,
    logPath,
    logs: () => output,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        // An unref'd timer: once the server is gone it must not keep node alive for 15s.
        let timeout;
        const timer = new Promise((r) => { timeout = setTimeout(() => r('timeout'), 15_000); timeout.unref(); });
        const outcome = await Promise.race([exitPromise, timer]);
        clearTimeout(timeout);
        if (outcome === 'timeout') {
          collect('\n[e2e] server did not stop within 15s of SIGTERM: SIGKILL\n');
          child.kill('SIGKILL');
          await exitPromise;
        }
      }
      await new Promise((r) => logFile.end(r));
      if (!process.env.TRUSTDECK_E2E_KEEP) {
        await fsp.rm(dataDir, { recursive: true, force: true });
      }
      return exited;
    },
  };

  // Readiness: poll /healthz (certificate not checked here: the CA may not exist yet).
  const deadline = Date.now() + readyTimeoutMs;
  let lastErr = null;
  for (;;) {
    if (exited) {
      await server.stop();
      throw new Error(`trustdeck exited before it was ready (code ${exited.code}, signal ${exited.signal}).\n` +
        `command: ${bin} ${args.join(' ')}\n--- output ---\n${output}`);
    }
    try {
      const res = await httpsGet(`${baseURL}/healthz`, { timeoutMs: 2000 });
      if (res.status === 200) break;
      lastErr = new Error(`/healthz answered ${res.status}: ${res.body.slice(0, 200)}`);
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`trustdeck not ready after ${readyTimeoutMs}ms: ${lastErr?.message}\n--- output ---\n${output}`);
    }
    await sleep(100);
  }

  const caPath = path.join(dataDir, 'tls', 'ca.crt');
  if (fs.existsSync(caPath)) server.ca = await fsp.readFile(caPath);
  return server;
}

/**
 * A request to trustdeck's JSON API with basic credentials (the admin's unless `as` is given), the
 * server verified by its CA. Resolves with { status, headers, body, json }.
 */
export function api(server, method, urlPath, { body, as } = {}) {
  const user = as?.username ?? server.adminUser;
  const password = as?.password ?? server.adminPassword;
  const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
  const headers = { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`, Accept: 'application/json' };
  if (payload) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = String(payload.length);
  }
  return new Promise((resolve, reject) => {
    const agent = new https.Agent({ ca: server.ca });
    const req = https.request(`${server.baseURL}${urlPath}`, { method, agent, headers, timeout: 15_000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        agent.destroy();
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, body: text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${urlPath}`)));
    req.on('error', (err) => {
      agent.destroy();
      reject(err);
    });
    if (payload) req.write(payload);
    req.end();
  });
}
