import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import type { CredentialCache } from '../services/credential-cache.ts';
import { cleanupJob } from './cleanup.ts';
import { credentialListenerJob } from './credential-listener.ts';
import { reservationExpiryJob } from './reservation-expiry.ts';
import { Supervisor } from './supervisor.ts';
import { webhookSenderJob } from './webhook-sender.ts';

/**
 * Every background job of a serving instance, on a supervisor not yet started: the lifespan
 * (src/server.ts) starts it after migrating and stops it before closing the database. The app
 * (src/app.ts) starts none, so that a test app does no background work unless it asks.
 * `credentials` is the cache the instance's app was given, which the listener keeps live.
 */
export function backgroundJobs(db: Database, config: Config, log: FastifyBaseLogger, credentials: CredentialCache | undefined): Supervisor {
  const supervisor = new Supervisor(log);
  supervisor.add(cleanupJob(db, { idempotencyKeyTtlHours: config.idempotencyKeyTtlHours, loginWindowS: config.loginWindowS }, log));
  supervisor.add(reservationExpiryJob(db, { reservationSweepS: config.reservationSweepS }, log));
  if (credentials !== undefined) supervisor.add(credentialListenerJob(db, credentials));
  supervisor.add(webhookSenderJob(db, config, log));
  return supervisor;
}
