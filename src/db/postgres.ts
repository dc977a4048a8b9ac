import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Config } from '../config.ts';
import type { ConnectionSource, Listening, NotificationHandler, PoolStats, RawConnection } from './database.ts';
import { ConnectionWaitTimeoutError } from './errors.ts';

// PostgreSQL through a bounded `pg` pool. Every pool option is passed explicitly: pg's defaults
// wait forever for a connection and never recycle one (DESIGN.md, known pitfalls).

const INT8_OID = 20;
// Quantities are bigint columns bounded far below 2^53 by the API's schemas, so a JS number
// holds them exactly; pg's default would hand them over as strings.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format) as (value: string) => unknown;
  },
};

// Statements with parameters run as named prepared statements: PostgreSQL parses and plans each
// text once per connection instead of on every call (measured: GET /stock 2.5-3.2k -> 4.4k req/s,
// PostgreSQL CPU per request 300 -> 80 us). The texts are the finite set src/db builds (a
// streamed query's DECLARE too: its cursor names are a fixed few, database.ts); values only ever
// travel as parameters. (PgBouncer before 1.21 in transaction mode can't do this.)
const statementNames = new Map<string, string>();
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `s${createHash('sha1').update(text).digest('base64url')}`;
    statementNames.set(text, name);
  }
  return name;
}

type PoolConfig = pg.PoolConfig & { maxLifetimeSeconds?: number };

const LISTEN_RETRY_MIN_MS = 250;
const LISTEN_RETRY_MAX_MS = 5_000;

/**
 * LISTEN on a connection of its own (a pooled one would lose its LISTEN when given back),
 * reconnecting with backoff whenever it is lost. The handler hears of every gap: on the loss
 * (notifications sent from then on are missed) and on each (re)connection (and so were those
 * sent before it).
 */
function listenOn(clientConfig: pg.ClientConfig, channel: string, handler: NotificationHandler): Listening {
  let closed = false;
  let live = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  let retryMs = LISTEN_RETRY_MIN_MS;

  const schedule = () => {
    if (closed || retry !== undefined) return;
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, retryMs);
    retry.unref();
    retryMs = Math.min(retryMs * 2, LISTEN_RETRY_MAX_MS);
  };
  const lost = (which: pg.Client) => {
    if (client !== which) return; // already handled, or closed
    client = undefined;
    if (live) {
      live = false;
      handler.gap();
    }
    which.end().catch(() => undefined);
    schedule();
  };
  const connect = async () => {
    const next = new pg.Client({ ...clientConfig, keepAlive: true });
    client = next;
    next.on('error', () => lost(next));
    next.on('end', () => lost(next));
    next.on('notification', (notification) => {
      if (notification.channel === channel) handler.message(notification.payload ?? '');
    });
    try {
      await next.connect();
      await next.query(`LISTEN "${channel}"`);
    } catch {
      lost(next);
      return;
    }
    if (client !== next) return;
    retryMs = LISTEN_RETRY_MIN_MS;
    live = true;
    handler.gap();
  };
  void connect();

  return {
    get live() {
      return live;
    },
    async close() {
      closed = true;
      live = false;
      clearTimeout(retry);
      const last = client;
      client = undefined;
      await last?.end().catch(() => undefined);
    },
  };
}

/** The PostgreSQL server could not be reached or refused us at start-up: one line for the operator. */
export class DatabaseConnectionError extends Error {
  override name = 'DatabaseConnectionError';
}

/** Why a first connection failed, and what to do about it, from the driver's error. */
function connectionFailure(
  error: { code?: string; message?: string },
  where: { host: string; port: number; database: string; user: string },
  timeoutMs: number,
) {
  const { code = '', message = '' } = error;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused; is PostgreSQL running there? Check the host and port in DATABASE_URL';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host "${where.host}" not found; check the host name in DATABASE_URL`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `the host can't be reached (${code}); check the host in DATABASE_URL and the network or firewall in between`;
    case '3D000':
      return `the database does not exist; create it (createdb -h ${where.host} -p ${where.port} -U ${where.user} ${where.database}) or fix its name in DATABASE_URL`;
    case '28P01':
    case '28000':
      return `the server refused the login (${message}); check the user and password in DATABASE_URL and the server's pg_hba.conf`;
    case '57P03':
      return 'the server is starting up or shutting down; try again in a moment';
    case '53300':
      return 'the server has no connection slot free (too many connections); try again, or raise its max_connections';
  }
  if (message.includes('timeout')) {
    return `no answer within DB_POOL_ACQUIRE_TIMEOUT_MS (${timeoutMs} ms); check the host and port in DATABASE_URL and any firewall`;
  }
  if (message.includes('Connection terminated')) {
    return 'the connection was closed before the server answered; check that the host and port in DATABASE_URL are a PostgreSQL server';
  }
  return `${message || code || 'unknown error'}; check DATABASE_URL`;
}

/**
 * Connects once and runs a trivial statement, so that a server that can't be reached, a database
 * that doesn't exist or a wrong password is reported at start-up in one line naming the host, port,
 * database and cause (never the password), rather than as the first query's stack trace.
 */
export async function checkPostgresConnection(config: Config, applicationName = 'stockroom'): Promise<void> {
  const client = new pg.Client({
    connectionString: config.databaseUrl,
    application_name: applicationName,
    connectionTimeoutMillis: config.dbPoolAcquireTimeoutMs,
  });
  // pg has read the URL (and PGHOST and the like for what it leaves out): these are what it uses.
  const where = client as unknown as { host: string; port: number; database: string; user: string };
  client.on('error', () => undefined); // a connection lost after the check is not the check's concern
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    const cause = connectionFailure(error as { code?: string; message?: string }, where, config.dbPoolAcquireTimeoutMs);
    throw new DatabaseConnectionError(
      `can't use PostgreSQL database "${where.database}" on ${where.host}:${where.port} as user "${where.user}": ${cause}`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function createPostgresSource(config: Config, applicationName = 'stockroom'): ConnectionSource {
  const clientConfig: pg.ClientConfig = {
    connectionString: config.databaseUrl,
    application_name: applicationName,
    statement_timeout: config.dbStatementTimeoutMs,
    // A transaction left open by a bug or a vanished process can't hold row locks for long.
    idle_in_transaction_session_timeout: Math.max(config.requestTimeoutMs * 2, 10_000),
    types,
  };
  const poolConfig: PoolConfig = {
    ...clientConfig,
    max: config.dbPoolMax,
    connectionTimeoutMillis: config.dbPoolAcquireTimeoutMs,
    idleTimeoutMillis: config.dbPoolIdleTimeoutMs,
    maxLifetimeSeconds: config.dbPoolMaxLifetimeS,
    allowExitOnIdle: false,
  };
  const pool = new pg.Pool(poolConfig);
  // An idle client whose server connection dies (restart, pg_terminate_backend) emits 'error' on
  // the pool; pg drops it from the pool by itself, and an unhandled 'error' would kill the process.
  pool.on('error', () => undefined);
  // A checked-out client has no listener of pg-pool's: its server connection dying between two
  // statements (pg_terminate_backend, a restart) would emit an unhandled 'error' and end the
  // process. With this one, the next statement fails as a 503 and the release discards the client.
  pool.on('connect', (client) => client.on('error', () => undefined));

  // Cancel requests go through one separate connection of their own, so that cancelling never
  // waits for a pooled connection (the pool may be exhausted by the very queries being cancelled).
  let control: Promise<pg.Client> | undefined;
  const controlClient = () => {
    control ??= (async () => {
      const client = new pg.Client({ ...clientConfig, application_name: `${applicationName}-cancel` });
      client.on('error', () => {
        control = undefined;
      });
      client.on('end', () => {
        control = undefined;
      });
      await client.connect();
      return client;
    })().catch((error: unknown) => {
      control = undefined;
      throw error;
    });
    return control;
  };
  // One statement at a time on that connection: cancels queue behind each other (pg 9 will
  // refuse a query sent while another runs on the same client).
  let cancelling: Promise<unknown> = Promise.resolve();
  const cancelBackend = (pid: number): Promise<void> => {
    const next = cancelling.then(async () => {
      const controller = await controlClient();
      await controller.query('SELECT pg_cancel_backend($1)', [pid]);
    });
    cancelling = next.catch(() => undefined);
    return next;
  };

  const wrap = (client: pg.PoolClient): RawConnection => {
    let released = false;
    const pid = (client as unknown as { processID: number }).processID;
    return {
      async begin(readOnly) {
        if (readOnly) {
          await client.query('BEGIN READ ONLY');
          return undefined;
        }
        // In the same round trip, the transaction's id: should COMMIT's answer be lost with the
        // connection, txid_status() on another one tells whether it committed.
        const results = (await client.query('BEGIN; SELECT txid_current()::text AS id')) as unknown as pg.QueryResult<{ id: string }>[];
        return results[1]!.rows[0]!.id;
      },
      async run(text, params) {
        const result =
          params === undefined
            ? await client.query(text)
            : await client.query({ name: statementName(text), text, values: params as unknown[] });
        return result.rows as Record<string, unknown>[];
      },
      async exec(script) {
        await client.query(script); // no parameters: the simple protocol runs every statement
      },
      cancel: () => cancelBackend(pid),
      release(broken) {
        assert.ok(!released, 'a connection is released once');
        released = true;
        client.release(broken);
      },
    };
  };

  const acquire = async (signal?: AbortSignal): Promise<RawConnection> => {
    const connecting = pool.connect().catch((error: unknown) => {
      if (error instanceof Error && error.message.includes('timeout exceeded when trying to connect')) {
        throw new ConnectionWaitTimeoutError('no database connection was free in time; retry shortly');
      }
      throw error;
    });
    if (signal === undefined) return wrap(await connecting);
    signal.throwIfAborted();
    return new Promise<RawConnection>((resolve, reject) => {
      // The connection may still arrive after the abort: it is then given straight back.
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      connecting.then(
        (client) => {
          signal.removeEventListener('abort', onAbort);
          if (signal.aborted) client.release();
          else resolve(wrap(client));
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  };

  return {
    kind: 'postgres',
    acquire,
    async commitStatus(transactionId, signal) {
      const connection = await acquire(signal);
      let broken = false;
      try {
        const [row] = await connection
          .run('SELECT txid_status($1::bigint) AS status', [transactionId])
          .catch((error: { code?: string; message?: string }) => {
            // An id past the last one handed out: the server restarted without it ever reaching
            // the disk, so the transaction was lost.
            if (error.code === '22023' && error.message?.includes('in the future')) return [{ status: 'aborted' }];
            throw error;
          });
        const status = row?.status;
        // null: an id too old to tell, which a COMMIT lost seconds ago can't be.
        if (status === 'committed' || status === 'aborted' || status === 'in progress') return status;
        throw new Error(`txid_status(${transactionId}) answered ${String(status)}`);
      } catch (error) {
        broken = true;
        throw error;
      } finally {
        connection.release(broken);
      }
    },
    listen(channel, handler) {
      return listenOn({ ...clientConfig, application_name: `${applicationName}-listen` }, channel, handler);
    },
    stats(): PoolStats {
      return {
        total: pool.totalCount,
        idle: pool.idleCount,
        inUse: pool.totalCount - pool.idleCount,
        waiting: pool.waitingCount,
      };
    },
    async close() {
      const client = await control?.catch(() => undefined);
      await client?.end().catch(() => undefined);
      await pool.end();
    },
  };
}
