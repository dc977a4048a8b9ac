import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Configuration comes from the environment only, is validated once at start-up, and a bad value
// stops the process with one line that names the variable (API.md, "Running it").

export interface Config {
  host: string;
  port: number;
  /** PostgreSQL server URL; when absent the embedded PGlite database in `dataDir` is used. */
  databaseUrl: string | undefined;
  dataDir: string;
  dbPoolMax: number;
  dbPoolAcquireTimeoutMs: number;
  dbPoolIdleTimeoutMs: number;
  dbPoolMaxLifetimeS: number;
  dbStatementTimeoutMs: number;
  requestTimeoutMs: number;
  shutdownTimeoutMs: number;
  bodyLimitBytes: number;
  idempotencyKeyTtlHours: number;
  /** How often each instance releases the holds of reservations past their expiresAt. */
  reservationSweepS: number;
  /** Events older than this are deleted; a stream resuming from before them starts with `event: reset`. */
  eventsRetentionHours: number;
  /** How often an open event stream gets a comment line, so that proxies don't close it as idle. */
  eventsHeartbeatS: number;
  /** What an event stream may have waiting to be sent; a client that lets more pile up is disconnected (it can resume). */
  eventsStreamBufferBytes: number;
  /** A webhook delivery attempt is abandoned (and retried) after this long. */
  webhookTimeoutMs: number;
  /** Attempts before a delivery is marked failed. */
  webhookMaxAttempts: number;
  /** The first retry waits about this long, each later one four times the one before… */
  webhookRetryBaseMs: number;
  /** …up to this. */
  webhookRetryMaxMs: number;
  /** Deliveries one instance has in flight at once. */
  webhookConcurrency: number;
  /** Whether webhook URLs may reach loopback, private and link-local addresses (tests, private networks). */
  webhookAllowPrivateNetworks: boolean;
  logLevel: string;
  /** The first admin, created at start-up when the database has no users. */
  adminEmail: string | undefined;
  adminPassword: string | undefined;
  sessionTtlHours: number;
  /** Login attempts allowed per account in a window (four times as many per client address). */
  loginMaxAttempts: number;
  loginWindowS: number;
  /** How long an instance remembers what a credential authenticated as; 0 looks it up every time. */
  authCacheTtlS: number;
  /**
   * Which X-Forwarded-For entries to believe: false (none), the number of proxies in front, or
   * the proxies' addresses and CIDRs. The client address is the right-most entry not trusted.
   */
  trustProxy: TrustProxy;
  /** The largest product image upload, in bytes; past it the upload is refused with 413 as it arrives. */
  uploadMaxBytes: number;
  /** Where uploads are spooled while they are checked and re-encoded; every file is removed when its request ends. */
  uploadTmpDir: string;
  /** The largest CSV file an import takes (413 past it), counted as it streams in. */
  importMaxBytes: number;
}

export type TrustProxy = false | number | string[];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) {
    throw new ConfigError(`${name} must be a whole number between ${min} and ${max}, got "${raw}"`);
  }
  const value = Number(raw);
  if (value < min || value > max) {
    throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

// proxy-addr's names for address ranges, which Fastify accepts beside addresses and CIDRs.
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

function isAddressOrCidr(entry: string): boolean {
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

// `true` would trust every X-Forwarded-For entry, and the left-most one is written by the client
// itself: it could then choose the address that login throttling counts, and block another's.
function trustProxy(env: Env): TrustProxy {
  const raw = env.TRUST_PROXY?.trim().toLowerCase();
  if (raw === undefined || raw === '' || ['0', 'false', 'no'].includes(raw)) return false;
  if (['true', 'yes'].includes(raw)) {
    throw new ConfigError(
      'TRUST_PROXY=true would let clients choose their own address through X-Forwarded-For; set the number of proxies in front (1) or their addresses or CIDRs (10.0.0.0/8,127.0.0.1)',
    );
  }
  if (/^\d+$/.test(raw)) return integer(env, 'TRUST_PROXY', 0, 1, 100);
  const entries = raw.split(',').map((entry) => entry.trim());
  const wrong = entries.find((entry) => !PROXY_RANGE_NAMES.includes(entry) && !isAddressOrCidr(entry));
  if (wrong !== undefined) {
    throw new ConfigError(
      `TRUST_PROXY must be a number of proxies or a comma-separated list of their addresses or CIDRs; "${wrong}" is neither`,
    );
  }
  return entries;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['true', '1', 'yes'].includes(raw)) return true;
  if (['false', '0', 'no'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function loadConfig(env: Env = process.env): Config {
  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  const logLevel = env.LOG_LEVEL?.trim() || 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }
  const host = env.HOST?.trim() || '127.0.0.1';
  const adminEmail = env.STOCKROOM_ADMIN_EMAIL?.trim() || undefined;
  const adminPassword = env.STOCKROOM_ADMIN_PASSWORD || undefined;
  if ((adminEmail === undefined) !== (adminPassword === undefined)) {
    throw new ConfigError('STOCKROOM_ADMIN_EMAIL and STOCKROOM_ADMIN_PASSWORD must be set together');
  }
  if (adminEmail !== undefined && !/^[^\s@]+@[^\s@]+$/.test(adminEmail)) {
    throw new ConfigError(`STOCKROOM_ADMIN_EMAIL must be an email address, got "${adminEmail}"`);
  }
  if (adminPassword !== undefined && (adminPassword.length < 8 || adminPassword.length > 256)) {
    throw new ConfigError('STOCKROOM_ADMIN_PASSWORD must be 8 to 256 characters long');
  }
  return {
    host,
    port: integer(env, 'PORT', 3000, 0, 65535),
    databaseUrl,
    dataDir: env.STOCKROOM_DATA_DIR?.trim() || './data',
    dbPoolMax: integer(env, 'DB_POOL_MAX', 10, 1, 1000),
    dbPoolAcquireTimeoutMs: integer(env, 'DB_POOL_ACQUIRE_TIMEOUT_MS', 2000, 1, 600_000),
    dbPoolIdleTimeoutMs: integer(env, 'DB_POOL_IDLE_TIMEOUT_MS', 30_000, 1, 3_600_000),
    dbPoolMaxLifetimeS: integer(env, 'DB_POOL_MAX_LIFETIME_S', 1800, 1, 86_400),
    dbStatementTimeoutMs: integer(env, 'DB_STATEMENT_TIMEOUT_MS', 5000, 1, 3_600_000),
    requestTimeoutMs: integer(env, 'REQUEST_TIMEOUT_MS', 10_000, 1, 3_600_000),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 1, 3_600_000),
    bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 1_048_576, 1024, 104_857_600),
    idempotencyKeyTtlHours: integer(env, 'IDEMPOTENCY_KEY_TTL_HOURS', 24, 24, 24 * 365),
    reservationSweepS: integer(env, 'RESERVATION_SWEEP_S', 1, 1, 3600),
    eventsRetentionHours: integer(env, 'EVENTS_RETENTION_HOURS', 72, 1, 24 * 365),
    eventsHeartbeatS: integer(env, 'EVENTS_HEARTBEAT_S', 15, 1, 300),
    // At least a catch-up page (src/services/event-feed.ts) and a socket's high-water mark, with room.
    eventsStreamBufferBytes: integer(env, 'EVENTS_STREAM_BUFFER_BYTES', 1_048_576, 262_144, 104_857_600),
    webhookTimeoutMs: integer(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100, 300_000),
    webhookMaxAttempts: integer(env, 'WEBHOOK_MAX_ATTEMPTS', 8, 1, 100),
    webhookRetryBaseMs: integer(env, 'WEBHOOK_RETRY_BASE_MS', 5000, 1, 86_400_000),
    webhookRetryMaxMs: integer(env, 'WEBHOOK_RETRY_MAX_MS', 6 * 3_600_000, 1, 7 * 86_400_000),
    webhookConcurrency: integer(env, 'WEBHOOK_CONCURRENCY', 16, 1, 1000),
    webhookAllowPrivateNetworks: boolean(env, 'WEBHOOK_ALLOW_PRIVATE_NETWORKS', false),
    logLevel,
    adminEmail,
    adminPassword,
    sessionTtlHours: integer(env, 'SESSION_TTL_HOURS', 12, 1, 24 * 365),
    loginMaxAttempts: integer(env, 'LOGIN_MAX_ATTEMPTS', 5, 1, 1000),
    loginWindowS: integer(env, 'LOGIN_WINDOW_S', 900, 1, 86_400),
    authCacheTtlS: integer(env, 'AUTH_CACHE_TTL_S', 10, 0, 300),
    trustProxy: trustProxy(env),
    uploadMaxBytes: integer(env, 'UPLOAD_MAX_BYTES', 5 * 1024 * 1024, 1024, 100 * 1024 * 1024),
    uploadTmpDir: env.UPLOAD_TMP_DIR?.trim() || join(tmpdir(), 'stockroom-uploads'),
    importMaxBytes: integer(env, 'IMPORT_MAX_BYTES', 52_428_800, 1024, 1_073_741_824),
  };
}
