// Debian's docker-registry with trustdeck as its token realm and notification endpoint, and the
// seed's registry scenario (e2e/seed): the world of the registry and migration browser tests.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ARTIFACTS_DIR, REPO_ROOT, freePort, httpsGet, startServer } from './server.mjs';

export const SEED_BIN = process.env.TRUSTDECK_SEED_BIN || path.join(REPO_ROOT, 'bin', 'trustdeck-e2e-seed');
export const REGISTRY_BIN = process.env.DOCKER_REGISTRY_BIN || '/usr/bin/docker-registry';
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function seed(args) {
  return new Promise((resolve, reject) => {
    execFile(SEED_BIN, args, { timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`trustdeck-e2e-seed ${args.at(-1)} failed (exit ${err.code}):\n${stderr}`));
        return;
      }
      resolve(JSON.parse(stdout));
    });
  });
}

/** docker-registry as a child process; start() waits until /v2/ answers (401: token auth on). */
export function registryProcess(config, { ca, trustCA, port, logPath }) {
  let child = null;
  const log = fs.createWriteStream(logPath, { flags: 'a' });
  return {
    async start() {
      child = spawn(REGISTRY_BIN, ['serve', config], {
        env: { PATH: '/usr/bin:/bin', HOME: path.dirname(config), SSL_CERT_FILE: trustCA },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.pipe(log, { end: false });
      child.stderr.pipe(log, { end: false });
      const exited = new Promise((r) => child.once('exit', r));
      for (let i = 0; i < 200; i++) {
        try {
          const res = await httpsGet(`https://127.0.0.1:${port}/v2/`, { ca, timeoutMs: 1000 });
          if (res.status === 401) return;
        } catch { /* not up yet */ }
        if (child.exitCode !== null) throw new Error(`docker-registry exited at start; log: ${logPath}`);
        await sleep(100);
      }
      child.kill('SIGKILL');
      await exited;
      throw new Error(`docker-registry did not answer within 20s; log: ${logPath}`);
    },
    async stop() {
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export const registryMissing = !fs.existsSync(REGISTRY_BIN);
if (registryMissing) {
  const msg = `registry browser tests: ${REGISTRY_BIN} is not installed (make deps-registry, as root)`;
  console.error(`\n${'#'.repeat(88)}\n## ${msg}\n${'#'.repeat(88)}\n`);
  if (process.env.TRUSTDECK_E2E_STRICT === '1') throw new Error(`TRUSTDECK_E2E_STRICT=1 and ${msg}`);
}

/**
 * Starts a registry, trustdeck connected to it, and seeds prod/web: returns the server, the
 * registry process (stop/start) and what the seed made (world, with the registry's address).
 */
export async function startRegistryWorld(slug) {
  const regPort = await freePort();
  const regAddr = `127.0.0.1:${regPort}`;
  const regDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'trustdeck-e2e-registry-'));
  const regTLS = await seed(['--dir', regDir, 'registry-tls']);
  const password = `e2e-${randomBytes(12).toString('hex')}`;
  const eventsToken = randomBytes(16).toString('hex');
  const server = await startServer({
    name: slug,
    adminPassword: password,
    extraArgs: ['--registry-url', `https://${regAddr}`, '--registry-host', regAddr, '--registry-ca', regTLS.ca,
      '--registry-username', 'admin', '--registry-sync-interval', '3s'],
    env: { TRUSTDECK_REGISTRY_PASSWORD: password, TRUSTDECK_REGISTRY_EVENTS_TOKEN: eventsToken },
  });
  const trustCA = path.join(server.dataDir, 'tls', 'ca.crt');
  const { config } = await seed(['--dir', regDir, '--addr', regAddr, '--url', server.baseURL,
    '--token-cert', path.join(server.dataDir, 'tls', 'token-signing.crt'), '--events-token', eventsToken, 'registry-config']);
  const registry = registryProcess(config, { ca: fs.readFileSync(regTLS.ca), trustCA, port: regPort,
    logPath: path.join(ARTIFACTS_DIR, `${slug}.registry.log`) });
  await registry.start();
  const made = await seed(['--url', server.baseURL, '--ca', trustCA, '--user', 'admin', '--password', password,
    '--gun', `${regAddr}/prod/web`, '--registry', regAddr, '--registry-ca', regTLS.ca, 'registry']);
  const world = { ...made, regAddr };
  const stop = server.stop.bind(server);
  server.stop = async () => {
    await registry.stop();
    if (!process.env.TRUSTDECK_E2E_KEEP) await fsp.rm(regDir, { recursive: true, force: true });
    return stop();
  };
  return { server, registry, world };
}

/** GET on the JSON API as the admin. */
export async function apiJSON(server, urlPath) {
  const auth = Buffer.from(`${server.adminUser}:${server.adminPassword}`).toString('base64');
  const res = await httpsGet(`${server.baseURL}${urlPath}`, { ca: server.ca, timeoutMs: 15_000, headers: { Authorization: `Basic ${auth}` } });
  assert.equal(res.status, 200, `GET ${urlPath}: ${res.status} ${res.body.slice(0, 300)}`);
  return JSON.parse(res.body);
}

