import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.ts';
import type { Config } from './config.ts';
import { migrate } from './db/migrate.ts';
import { openDatabase } from './db/open.ts';
import { ensureFirstAdmin } from './first-admin.ts';

// The process around the app (DESIGN.md pattern 2, the lifespan): open the database, migrate,
// make sure there is a first admin, listen; on SIGTERM or SIGINT stop accepting, let in-flight requests finish within
// SHUTDOWN_TIMEOUT_MS, stop background work, release the pool, and exit 0.

export async function serve(config: Config) {
  const db = await openDatabase(config);
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  try {
    await migrate(db);
    app = await buildApp({ config, db, logger: { level: config.logLevel } });
    await ensureFirstAdmin(db, config, app.log);
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await app?.close().catch(() => undefined);
    await db.close().catch(() => undefined);
    throw error;
  }
  const where = config.databaseUrl === undefined ? `embedded database in ${config.dataDir}` : 'PostgreSQL';
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  app.log.info(`Stockroom is serving http://${config.host}:${port} (API docs at /docs) on the ${where}`);

  const server = app;
  closeWithGrace({ delay: config.shutdownTimeoutMs }, async ({ signal, err }) => {
    if (err !== undefined) server.log.error({ err }, 'stopping after an uncaught error');
    else server.log.info({ signal }, 'shutting down: finishing in-flight requests');
    await server.close(); // stops accepting, waits for in-flight requests, runs onClose hooks
    await db.close();
    server.log.info('stopped');
  });
  return app;
}
