import assert from 'node:assert/strict';
import { PGlite } from '@electric-sql/pglite';
import type { ConnectionSource, RawConnection } from './database.ts';
import { lockDataDir, restrictDataDirFiles } from './datadir-lock.ts';
import { ConnectionWaitTimeoutError } from './errors.ts';

// The embedded database: PostgreSQL compiled to WebAssembly, one connection in this process.
// Concurrent requests queue for that one connection here, with the same acquire timeout as the
// PostgreSQL pool, instead of inside PGlite where a transaction could interleave with another.

export interface PgliteOptions {
  /** A data directory, or undefined for an in-memory database. */
  dataDir: string | undefined;
  acquireTimeoutMs: number;
  /** A data directory dump to start from (tests start from a migrated template). */
  loadDataDir?: Blob | File;
}

const INT8_OID = 20;
const BYTEA_OID = 17;

// PGlite's own bytea conversions go through a JavaScript string per byte: 5 s for a 5 MiB value
// written and 0.7 s read, all on the event loop (measured here). A parameter given as bytes goes
// to the server as they are (the binary format, which PGlite uses for any ArrayBuffer view),
// and a value read comes back through Node's native hex codec.
const byteaBytes = (value: unknown): string => {
  assert.ok(value instanceof Uint8Array, 'a bytea parameter is a Uint8Array');
  return value as unknown as string; // PGlite's serializer type says string; it sends views as binary
};
const byteaValue = (text: string): Buffer => Buffer.from(text.slice(2), 'hex');

export async function createPgliteSource(options: PgliteOptions): Promise<ConnectionSource> {
  const unlock = options.dataDir === undefined ? () => undefined : lockDataDir(options.dataDir);
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(options.dataDir ?? 'memory://', {
      parsers: { [INT8_OID]: (value: string) => Number(value), [BYTEA_OID]: byteaValue },
      serializers: { [BYTEA_OID]: byteaBytes },
      loadDataDir: options.loadDataDir,
    });
  } catch (error) {
    unlock();
    throw error;
  }
  if (options.dataDir !== undefined) {
    // PGlite writes a new directory's files 0666 (datadir-lock.ts says why); the directory is
    // 0700 from the start, so nobody else could reach them meanwhile.
    try {
      restrictDataDirFiles(options.dataDir);
    } catch (error) {
      await pglite.close().catch(() => undefined);
      unlock();
      throw error;
    }
  }

  let busy = false;
  const waiters: Array<() => void> = [];

  const release = () => {
    const next = waiters.shift();
    if (next !== undefined) next();
    else busy = false;
  };

  const connection = (): RawConnection => {
    let released = false;
    return {
      async begin(readOnly) {
        await pglite.query(readOnly ? 'BEGIN READ ONLY' : 'BEGIN');
        return undefined; // in this process, COMMIT's answer can't be lost apart from the process
      },
      async run(text, params) {
        const result = await pglite.query<Record<string, unknown>>(text, params as unknown[] | undefined);
        return result.rows;
      },
      async exec(script) {
        await pglite.exec(script);
      },
      async cancel() {
        // PGlite runs a statement to its end on this thread; there is nothing to interrupt.
      },
      release(broken) {
        assert.ok(!released, 'a connection is released once');
        released = true;
        if (broken) {
          // The one connection can't be replaced; make sure no transaction stays open on it.
          void pglite
            .query('ROLLBACK')
            .catch(() => undefined)
            .finally(release);
        } else {
          release();
        }
      },
    };
  };

  return {
    kind: 'pglite',
    acquire(signal) {
      signal?.throwIfAborted();
      if (!busy) {
        busy = true;
        return Promise.resolve(connection());
      }
      return new Promise((resolve, reject) => {
        const grant = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve(connection());
        };
        const leave = (reason: unknown) => {
          const index = waiters.indexOf(grant);
          if (index !== -1) waiters.splice(index, 1);
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          reject(reason);
        };
        const onAbort = () => leave(signal?.reason);
        const timer = setTimeout(
          () => leave(new ConnectionWaitTimeoutError('the database was busy for too long; retry shortly')),
          options.acquireTimeoutMs,
        );
        signal?.addEventListener('abort', onAbort, { once: true });
        waiters.push(grant);
      });
    },
    async commitStatus() {
      assert.fail('the embedded database never loses a COMMIT’s answer');
    },
    listen() {
      // Only this process can open the data directory (datadir-lock.ts), so every change comes
      // from here and its writer has already told this process's listeners itself.
      return { live: true, close: async () => undefined };
    },
    stats() {
      return { total: 1, idle: busy ? 0 : 1, inUse: busy ? 1 : 0, waiting: waiters.length };
    },
    async close() {
      try {
        await pglite.close();
      } finally {
        unlock();
      }
    },
  };
}
