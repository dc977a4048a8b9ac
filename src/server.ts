import { createServer } from 'node:net';
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.ts';
import type { Config } from './config.ts';
import { migrate } from './db/migrate.ts';
import { openDatabase } from './db/open.ts';
import { DEMO_ADMIN_EMAIL, ensureFirstAdmin } from './first-admin.ts';
import { backgroundJobs } from './jobs/background-jobs.ts';
import type { Supervisor } from './jobs/supervisor.ts';
import { credentialCacheFor } from './services/credential-cache.ts';
import { EventFeed } from './services/event-feed.ts';

// The process around the app (DESIGN.md pattern 2, the lifespan): make sure the port can be
// taken, open the database, migrate, start the background jobs (src/jobs/), listen, make sure
// there is a first admin; on SIGTERM or SIGINT stop accepting, let in-flight requests finish
// within SHUTDOWN_TIMEOUT_MS, stop the jobs (aborting runs in progress and waiting for them),
// release the pool, and exit 0.
//
// The first admin comes after `listen`, so that a demo admin's password is printed only by a
// server that really serves: printed and then lost with a failed start, it could not be shown again.

/** HOST:PORT can't be listened on: one line for the operator. */
export class ListenError extends Error {
  override name = 'ListenError';
}

function listenFailure(config: Config, error: NodeJS.ErrnoException): Error {
  const where = `${config.host}:${config.port}`;
  switch (error.code) {
    case 'EADDRINUSE':
      return new ListenError(
        `port ${config.port} on ${config.host} is already in use (another Stockroom, or another program): stop it, or set PORT to a free port (PORT=${config.port < 65535 ? config.port + 1 : 3000} npm start)` +
          // The demo admin exists only on the embedded database (first-admin.ts).
          (config.databaseUrl === undefined
            ? `; if the demo admin's password was lost, run \`npm run stockroom -- user reset-password --email ${DEMO_ADMIN_EMAIL}\``
            : ''),
      );
    case 'EACCES':
      return new ListenError(`this user may not listen on ${where}: set PORT to 1024 or above`);
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ListenError(
        `can't listen on ${where}: HOST is not an address of this machine; set HOST (127.0.0.1, or 0.0.0.0 for every interface)`,
      );
    default:
      return error;
  }
}

/**
 * Listens on HOST:PORT for a moment and lets go, so that a busy port is reported before the
 * database is opened or anything is created. The real listen can still lose a race for the port;
 * it reports the same way.
 */
async function checkPortFree(config: Config): Promise<void> {
  if (config.port === 0) return; // any free port: nothing to check
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (error: NodeJS.ErrnoException) => reject(listenFailure(config, error)));
    probe.listen({ host: config.host, port: config.port, exclusive: true }, () => resolve());
  });
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}

export async function serve(config: Config) {
  await checkPortFree(config);
  const db = await openDatabase(config);
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  let jobs: Supervisor | undefined;
  let events: EventFeed | undefined;
  try {
    await migrate(db);
    const credentials = credentialCacheFor(config);
    // Its warnings go to the app's log, which the app makes.
    events = new EventFeed(db, { warn: (details, message) => app?.log.warn(details, message) });
    app = await buildApp({ config, db, credentials, events, logger: { level: config.logLevel } });
    jobs = backgroundJobs(db, config, app.log, { credentials, events });
    jobs.start();
    await app.listen({ host: config.host, port: config.port }).catch((error: NodeJS.ErrnoException) => {
      throw listenFailure(config, error);
    });
    await ensureFirstAdmin(db, config, app.log);
  } catch (error) {
    await app?.close().catch(() => undefined);
    await jobs?.stop();
    await db.close().catch(() => undefined);
    throw error;
  }
  const where = config.databaseUrl === undefined ? `embedded database in ${config.dataDir}` : 'PostgreSQL';
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  app.log.info(`Stockroom is serving http://${config.host}:${port} (API docs at /docs) on the ${where}`);

  const server = app;
  const supervisor = jobs;
  const feed = events;
  closeWithGrace({ delay: config.shutdownTimeoutMs }, async ({ signal, err }) => {
    if (err !== undefined) server.log.error({ err }, 'stopping after an uncaught error');
    else server.log.info({ signal }, 'shutting down: finishing in-flight requests');
    await server.close(); // stops accepting, ends event streams, waits for in-flight requests, runs onClose hooks
    await supervisor.stop(); // aborts runs in progress and waits for them: they use the pool
    feed.close();
    await db.close();
    server.log.info('stopped');
  });
  return app;
}
