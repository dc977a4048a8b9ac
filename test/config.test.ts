import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../src/config.ts';

// Configuration of API.md ("Running it"): the environment only, validated once at start-up; an
// invalid value stops the process with one clear line that names the variable.

describe('loadConfig', () => {
  it('gives every setting its default when the environment is empty', () => {
    assert.deepEqual(loadConfig({}), {
      host: '127.0.0.1',
      port: 3000,
      databaseUrl: undefined,
      dataDir: './data',
      dbPoolMax: 10,
      dbPoolAcquireTimeoutMs: 2000,
      dbPoolIdleTimeoutMs: 30_000,
      dbPoolMaxLifetimeS: 1800,
      dbStatementTimeoutMs: 5000,
      requestTimeoutMs: 10_000,
      shutdownTimeoutMs: 10_000,
      bodyLimitBytes: 1_048_576,
      idempotencyKeyTtlHours: 24,
      reservationSweepS: 1,
      eventsRetentionHours: 72,
      eventsHeartbeatS: 15,
      eventsStreamBufferBytes: 1_048_576,
      webhookTimeoutMs: 10_000,
      webhookMaxAttempts: 8,
      webhookRetryBaseMs: 5000,
      webhookRetryMaxMs: 21_600_000,
      webhookConcurrency: 16,
      webhookAllowPrivateNetworks: false,
      logLevel: 'info',
      adminEmail: undefined,
      adminPassword: undefined,
      sessionTtlHours: 12,
      loginMaxAttempts: 5,
      loginWindowS: 900,
      authCacheTtlS: 10,
      trustProxy: false,
      uploadMaxBytes: 5_242_880,
      uploadTmpDir: join(tmpdir(), 'stockroom-uploads'),
      importMaxBytes: 52_428_800,
    });
  });

  it('treats a variable set to blanks as unset', () => {
    assert.deepEqual(loadConfig({ PORT: '', DB_POOL_MAX: '  ', LOG_LEVEL: ' ', DATABASE_URL: '', HOST: '' }), loadConfig({}));
  });

  it('reads every variable it is given', () => {
    const config = loadConfig({
      HOST: '0.0.0.0',
      PORT: '8080',
      DATABASE_URL: 'postgresql://stock:secret@db.internal:5432/stockroom',
      STOCKROOM_DATA_DIR: '/var/lib/stockroom',
      DB_POOL_MAX: '25',
      DB_POOL_ACQUIRE_TIMEOUT_MS: '1500',
      DB_POOL_IDLE_TIMEOUT_MS: '60000',
      DB_POOL_MAX_LIFETIME_S: '900',
      DB_STATEMENT_TIMEOUT_MS: '3000',
      REQUEST_TIMEOUT_MS: '8000',
      SHUTDOWN_TIMEOUT_MS: '20000',
      BODY_LIMIT_BYTES: '2048',
      IDEMPOTENCY_KEY_TTL_HOURS: '48',
      RESERVATION_SWEEP_S: '5',
      EVENTS_RETENTION_HOURS: '24',
      EVENTS_HEARTBEAT_S: '30',
      EVENTS_STREAM_BUFFER_BYTES: '524288',
      WEBHOOK_TIMEOUT_MS: '2000',
      WEBHOOK_MAX_ATTEMPTS: '3',
      WEBHOOK_RETRY_BASE_MS: '100',
      WEBHOOK_RETRY_MAX_MS: '60000',
      WEBHOOK_CONCURRENCY: '4',
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
      LOG_LEVEL: 'debug',
      STOCKROOM_ADMIN_EMAIL: 'ops@example.com',
      STOCKROOM_ADMIN_PASSWORD: 'a long passphrase',
      SESSION_TTL_HOURS: '8',
      LOGIN_MAX_ATTEMPTS: '10',
      LOGIN_WINDOW_S: '600',
      AUTH_CACHE_TTL_S: '0',
      TRUST_PROXY: '1',
      UPLOAD_MAX_BYTES: '2097152',
      UPLOAD_TMP_DIR: '/var/tmp/stockroom',
      IMPORT_MAX_BYTES: '1048576',
    });
    assert.deepEqual(config, {
      host: '0.0.0.0',
      port: 8080,
      databaseUrl: 'postgresql://stock:secret@db.internal:5432/stockroom',
      dataDir: '/var/lib/stockroom',
      dbPoolMax: 25,
      dbPoolAcquireTimeoutMs: 1500,
      dbPoolIdleTimeoutMs: 60_000,
      dbPoolMaxLifetimeS: 900,
      dbStatementTimeoutMs: 3000,
      requestTimeoutMs: 8000,
      shutdownTimeoutMs: 20_000,
      bodyLimitBytes: 2048,
      idempotencyKeyTtlHours: 48,
      reservationSweepS: 5,
      eventsRetentionHours: 24,
      eventsHeartbeatS: 30,
      eventsStreamBufferBytes: 524_288,
      webhookTimeoutMs: 2000,
      webhookMaxAttempts: 3,
      webhookRetryBaseMs: 100,
      webhookRetryMaxMs: 60_000,
      webhookConcurrency: 4,
      webhookAllowPrivateNetworks: true,
      logLevel: 'debug',
      adminEmail: 'ops@example.com',
      adminPassword: 'a long passphrase',
      sessionTtlHours: 8,
      loginMaxAttempts: 10,
      loginWindowS: 600,
      authCacheTtlS: 0,
      trustProxy: 1,
      uploadMaxBytes: 2_097_152,
      uploadTmpDir: '/var/tmp/stockroom',
      importMaxBytes: 1_048_576,
    });
  });

  it('takes TRUST_PROXY as a hop count or a list of proxy addresses and CIDRs, never as true', () => {
    for (const off of ['', 'false', '0', 'no']) assert.equal(loadConfig({ TRUST_PROXY: off }).trustProxy, false);
    assert.equal(loadConfig({ TRUST_PROXY: '2' }).trustProxy, 2);
    assert.deepEqual(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 192.168.1.7,::1, fd00::/8,loopback' }).trustProxy, [
      '10.0.0.0/8',
      '192.168.1.7',
      '::1',
      'fd00::/8',
      'loopback',
    ]);
    assert.throws(() => loadConfig({ TRUST_PROXY: 'true' }), /TRUST_PROXY=true would let clients choose their own address/);
  });

  it('accepts a postgres:// DATABASE_URL as well as postgresql://', () => {
    assert.equal(
      loadConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test' }).databaseUrl,
      'postgres://postgres@127.0.0.1:5432/test',
    );
  });

  it('accepts PORT 0 (any free port) and 65535', () => {
    assert.equal(loadConfig({ PORT: '0' }).port, 0);
    assert.equal(loadConfig({ PORT: '65535' }).port, 65535);
  });

  const invalid: [variable: string, value: string][] = [
    ['PORT', 'abc'],
    ['PORT', '65536'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['PORT', '3000abc'],
    ['DB_POOL_MAX', '0'],
    ['DB_POOL_MAX', 'ten'],
    ['DB_POOL_MAX', '1001'],
    ['DB_POOL_ACQUIRE_TIMEOUT_MS', '0'],
    ['DB_POOL_IDLE_TIMEOUT_MS', '1e3'],
    ['DB_POOL_MAX_LIFETIME_S', '-30'],
    ['DB_STATEMENT_TIMEOUT_MS', 'fast'],
    ['REQUEST_TIMEOUT_MS', '-1'],
    ['REQUEST_TIMEOUT_MS', '0'],
    ['SHUTDOWN_TIMEOUT_MS', '0x10'],
    ['BODY_LIMIT_BYTES', '10'],
    ['IDEMPOTENCY_KEY_TTL_HOURS', '1'],
    ['RESERVATION_SWEEP_S', '0'],
    ['RESERVATION_SWEEP_S', '0.5'],
    ['RESERVATION_SWEEP_S', '3601'],
    ['EVENTS_RETENTION_HOURS', '0'],
    ['EVENTS_HEARTBEAT_S', '0'],
    ['EVENTS_STREAM_BUFFER_BYTES', '100'],
    ['WEBHOOK_TIMEOUT_MS', '10'],
    ['WEBHOOK_MAX_ATTEMPTS', '0'],
    ['WEBHOOK_CONCURRENCY', '0'],
    ['WEBHOOK_ALLOW_PRIVATE_NETWORKS', 'maybe'],
    ['DATABASE_URL', 'mysql://x'],
    ['DATABASE_URL', 'localhost:5432/stockroom'],
    ['LOG_LEVEL', 'loud'],
    ['LOG_LEVEL', 'INFO!'],
    ['SESSION_TTL_HOURS', '0'],
    ['LOGIN_MAX_ATTEMPTS', 'many'],
    ['LOGIN_WINDOW_S', '0'],
    ['AUTH_CACHE_TTL_S', '301'],
    ['AUTH_CACHE_TTL_S', '-1'],
    ['TRUST_PROXY', 'maybe'],
    ['IMPORT_MAX_BYTES', '100'],
    ['IMPORT_MAX_BYTES', '1GB'],
    ['TRUST_PROXY', 'true'],
    ['TRUST_PROXY', '10.0.0.0/33'],
    ['TRUST_PROXY', '10.0.0.1, proxy.internal'],
    ['TRUST_PROXY', '101'],
    ['STOCKROOM_ADMIN_EMAIL', 'not-an-email'],
    ['UPLOAD_MAX_BYTES', '5MB'],
    ['UPLOAD_MAX_BYTES', '1023'],
    ['UPLOAD_MAX_BYTES', '104857601'],
  ];
  it('refuses an admin email without a password, and a password too short to keep', () => {
    assert.throws(
      () => loadConfig({ STOCKROOM_ADMIN_EMAIL: 'ops@example.com' }),
      /STOCKROOM_ADMIN_EMAIL and STOCKROOM_ADMIN_PASSWORD must be set together/,
    );
    assert.throws(
      () => loadConfig({ STOCKROOM_ADMIN_EMAIL: 'ops@example.com', STOCKROOM_ADMIN_PASSWORD: 'short' }),
      /STOCKROOM_ADMIN_PASSWORD must be 8 to 256/,
    );
  });

  for (const [variable, value] of invalid) {
    it(`refuses ${variable}=${value} with a ConfigError of one line that names ${variable}`, () => {
      assert.throws(
        () => loadConfig({ [variable]: value }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, `a ConfigError, got ${String(error)}`);
          assert.equal(error.name, 'ConfigError');
          assert.ok(error.message.includes(variable), `"${error.message}" names ${variable}`);
          assert.doesNotMatch(error.message, /\n/);
          return true;
        },
      );
    });
  }

  it('names the invalid variable, not a valid one beside it', () => {
    assert.throws(
      () => loadConfig({ PORT: '8080', DB_POOL_MAX: '0', REQUEST_TIMEOUT_MS: '5000' }),
      (error: unknown) =>
        error instanceof ConfigError && error.message.includes('DB_POOL_MAX') && !/PORT|REQUEST_TIMEOUT_MS/.test(error.message),
    );
  });
});

describe('the stockroom command', () => {
  it('stops `serve` with a non-zero exit and one line on stderr naming PORT when PORT=abc', async () => {
    const child = spawn(process.execPath, ['bin/stockroom.mjs', 'serve'], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      // Only what node needs: no DATABASE_URL or data directory, so nothing can be opened.
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PORT: 'abc' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal])),
    );
    clearTimeout(timer);
    assert.equal(signal, null, 'it exited by itself, not killed after 30 s');
    assert.ok(code !== null && code !== 0, `a non-zero exit code, got ${code}`);
    const lines = stderr.split('\n').filter((line) => line !== '');
    assert.equal(lines.length, 1, `exactly one line on stderr, got ${JSON.stringify(stderr)}`);
    assert.match(lines[0]!, /\bPORT\b/);
    assert.equal(stderr.endsWith('\n'), true);
    assert.equal(stdout, '');
  });
});
