import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { TestDatabase } from './helpers.ts';
import { TEST_ADMIN } from './test-admin.ts';

// The real server as an operator runs it: `node bin/stockroom.mjs serve` as a child process on
// a test database, for the tests of the process itself (signals, kill -9, the data dir lock).

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const START_TIMEOUT_MS = 30_000;
export const SHUTDOWN_TIMEOUT_MS = 4000;

/** A port that was free a moment ago: listen on port 0, read the number, close. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(typeof address === 'object' && address !== null);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerProcess {
  child: ChildProcess;
  base: string;
  /** Resolves when the process logs that it serves; rejects if it exits first. */
  started: Promise<void>;
  exited: Promise<Exit>;
  hasExited(): boolean;
  stderr(): string;
  output(): string;
  /** SIGKILL: no drain, no clean-up, the data directory lock left behind. */
  kill9(): Promise<Exit>;
  /** Logs in as the test admin (once per process) and gives the header that carries its token. */
  auth(): Promise<{ authorization: string }>;
  /** Sends SIGTERM (SIGKILL if it doesn't exit in time) and resolves with the exit and how long it took. */
  stop(): Promise<Exit & { elapsedMs: number }>;
}

const running = new Set<ChildProcess>();

/** Kills every server still running (for an `after` hook). */
export function killServers() {
  for (const child of running) child.kill('SIGKILL');
}

/** Logs in as the test admin over HTTP and gives the Authorization header. */
export async function loginAsAdmin(base: string): Promise<{ authorization: string }> {
  const response = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(TEST_ADMIN),
  });
  const body = (await response.json()) as { token?: string };
  assert.equal(response.status, 200, `login: ${JSON.stringify(body)}`);
  return { authorization: `Bearer ${body.token}` };
}

/**
 * Starts a server on `database`. Only its `env` is read, so a test may point a server at a
 * database of its own making, and add settings (pool, deadlines) beside DATABASE_URL.
 */
export async function startServer(database: Pick<TestDatabase, 'env'>, port?: number): Promise<ServerProcess> {
  port ??= await freePort();
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !['DATABASE_URL', 'STOCKROOM_DATA_DIR', 'NODE_TEST_CONTEXT', 'NODE_OPTIONS'].includes(name))
      env[name] = value;
  }
  Object.assign(env, database.env, {
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'info',
    SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    STOCKROOM_ADMIN_EMAIL: TEST_ADMIN.email,
    STOCKROOM_ADMIN_PASSWORD: TEST_ADMIN.password,
  });
  const child = spawn(process.execPath, ['bin/stockroom.mjs', 'serve'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  let exited = false;
  const exit = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      running.delete(child);
      resolve({ code, signal });
    });
  });
  const started = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`not started within ${START_TIMEOUT_MS} ms:\n${stdout}\n${stderr}`)),
      START_TIMEOUT_MS,
    ).unref();
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (stdout.includes('Stockroom is serving')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exit.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`exited (code ${code}, signal ${signal}) before serving:\n${stderr}`));
    });
  });
  started.catch(() => undefined); // a test that expects the process to fail awaits `exited` instead
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const base = `http://127.0.0.1:${port}`;
  let auth: Promise<{ authorization: string }> | undefined;
  return {
    child,
    base,
    auth() {
      auth ??= loginAsAdmin(base);
      return auth;
    },
    started,
    exited: exit,
    hasExited: () => exited,
    stderr: () => stderr,
    output: () => `${stdout}\n${stderr}`,
    async kill9() {
      if (!exited) child.kill('SIGKILL');
      return exit;
    },
    async stop() {
      const sent = Date.now();
      if (!exited) child.kill('SIGTERM');
      const result = await Promise.race([
        exit,
        sleep(SHUTDOWN_TIMEOUT_MS + 5000, undefined, { ref: false }).then(() => {
          child.kill('SIGKILL');
          return exit;
        }),
      ]);
      return { ...result, elapsedMs: Date.now() - sent };
    },
  };
}
