import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import { countUsers } from './db/users.ts';
import { createFirstAdmin } from './services/users.ts';

export const DEMO_ADMIN_EMAIL = 'admin@stockroom.local';

/**
 * At start-up, on a database without users: the admin from STOCKROOM_ADMIN_EMAIL and
 * STOCKROOM_ADMIN_PASSWORD; failing those, on the embedded database (a try-out on one machine),
 * a demo admin with a random password printed once; on a server, a warning saying what to do.
 */
export async function ensureFirstAdmin(db: Database, config: Config, log: FastifyBaseLogger, print = console.log): Promise<void> {
  const ctx = { db, actor: null };
  if (config.adminEmail !== undefined && config.adminPassword !== undefined) {
    if (await createFirstAdmin(ctx, { email: config.adminEmail, password: config.adminPassword })) {
      log.info(`created the first admin, ${config.adminEmail}, from STOCKROOM_ADMIN_EMAIL`);
    }
    return;
  }
  if (config.databaseUrl === undefined) {
    const password = randomBytes(12).toString('base64url');
    if (await createFirstAdmin(ctx, { email: DEMO_ADMIN_EMAIL, password, name: 'Demo admin' })) {
      print(
        [
          '',
          'No users existed, so Stockroom created a demo admin. Its password is shown this once:',
          `    email:    ${DEMO_ADMIN_EMAIL}`,
          `    password: ${password}`,
          'Log in with them, then create real users and change this password (PATCH /api/v1/me).',
          `Lost it? Stop the server and run: npm run stockroom -- user reset-password --email ${DEMO_ADMIN_EMAIL}`,
          'Set STOCKROOM_ADMIN_EMAIL and STOCKROOM_ADMIN_PASSWORD to choose the first admin instead.',
          '',
        ].join('\n'),
      );
    }
    return;
  }
  if ((await db.connection((conn) => countUsers(conn))) === 0) {
    log.warn(
      'there are no users yet: set STOCKROOM_ADMIN_EMAIL and STOCKROOM_ADMIN_PASSWORD, or run `npm run stockroom -- user create --role admin --email <address>`',
    );
  }
}
