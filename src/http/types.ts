import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { Database } from '../db/database.ts';
import type { LoginPolicy } from '../services/auth.ts';
import type { CredentialCache } from '../services/credential-cache.ts';
import type { EventFeed } from '../services/event-feed.ts';

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** What the API's routes are built with (src/http/routes/index.ts). */
export interface RouteOptions {
  /** For the authentication hook, which hands it to the routes' use cases as request.ctx. */
  db: Database;
  /** This instance's credential cache, if it keeps one (src/services/credential-cache.ts). */
  credentials: CredentialCache | undefined;
  /** This instance's event feed (src/services/event-feed.ts): the streams follow it, and changes tell it they wrote events. */
  events: EventFeed | undefined;
  idempotencyKeyTtlHours: number;
  loginPolicy: LoginPolicy;
  /** What the event streams need of the configuration. */
  streams: { heartbeatS: number; bufferBytes: number };
  /** WEBHOOK_ALLOW_PRIVATE_NETWORKS: whether a webhook's URL may resolve to a loopback, private or link-local address. */
  webhookAllowPrivateNetworks: boolean;
  /** UPLOAD_MAX_BYTES and UPLOAD_TMP_DIR: the product image upload's size limit and where it is spooled. */
  uploads: { maxBytes: number; tmpDir: string };
  /** IMPORT_MAX_BYTES: the largest CSV file an import takes. */
  importMaxBytes: number;
}
