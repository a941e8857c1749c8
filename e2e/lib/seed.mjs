// bin/trustdeck-e2e-seed (e2e/seed) run from a browser test: it makes trust data in a running
// trustdeck through its JSON and Notary APIs, as docker and the notary CLI do.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './server.mjs';

/** Path of the seed program: $TRUSTDECK_SEED_BIN, else <repo>/bin/trustdeck-e2e-seed. */
export const SEED_BIN = process.env.TRUSTDECK_SEED_BIN || path.join(REPO_ROOT, 'bin', 'trustdeck-e2e-seed');
const SEED_TIMEOUT_MS = 60_000;

/**
 * Runs the seed for `scenario` on the repository `name` ("ns/name") of `server`, as its admin;
 * resolves with what the seed printed (JSON).
 */
export function seedRepository(server, name, scenario) {
  if (!fs.existsSync(SEED_BIN)) {
    throw new Error(`seed program not built at ${SEED_BIN}: run 'go build -o bin/trustdeck-e2e-seed ./e2e/seed' ` +
      "(make e2e does), or set TRUSTDECK_SEED_BIN");
  }
  const args = ['--url', server.baseURL, '--ca', path.join(server.dataDir, 'tls', 'ca.crt'),
    '--user', server.adminUser, '--password', server.adminPassword, '--gun', `${server.hostPort}/${name}`, scenario];
  return new Promise((resolve, reject) => {
    execFile(SEED_BIN, args, { timeout: SEED_TIMEOUT_MS, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`seed ${scenario} ${name} failed (${err.killed ? `killed after ${SEED_TIMEOUT_MS}ms` : `exit ${err.code}`}):\n` +
          `${stderr}\nserver log: ${server.logPath}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout));
      } catch (e) {
        reject(new Error(`seed ${scenario} ${name}: stdout is not JSON (${e.message}):\n${stdout}\n${stderr}`));
      }
    });
  });
}

/**
 * A fresh ECDSA P-256 key and a self-signed certificate for it (subject CN = cn), as a signer
 * makes them: { cert, key, keyId } (keyId: the canonical ID docker shows for the certificate).
 */
export function seedKeyPair(cn) {
  return new Promise((resolve, reject) => {
    execFile(SEED_BIN, ['--cn', cn, 'keypair'], { timeout: SEED_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`seed keypair failed: ${err.message}\n${stderr}`));
        return;
      }
      resolve(JSON.parse(stdout));
    });
  });
}
