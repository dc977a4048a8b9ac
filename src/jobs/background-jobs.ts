import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import type { CredentialCache } from '../services/credential-cache.ts';
import type { EventFeed } from '../services/event-feed.ts';
import { cleanupJob } from './cleanup.ts';
import { credentialListenerJob } from './credential-listener.ts';
import { eventPublisherJob } from './event-publisher.ts';
import { eventRetentionJob } from './event-retention.ts';
import { reservationExpiryJob } from './reservation-expiry.ts';
import { Supervisor } from './supervisor.ts';
import { webhookSenderJob } from './webhook-sender.ts';

/** What an instance's app was given that its jobs keep live. */
export interface InstanceState {
  /** The credential cache, which the listener keeps live. */
  credentials?: CredentialCache | undefined;
  /** The event feed, which the publisher keeps publishing to and waking. */
  events?: EventFeed | undefined;
}

/**
 * Every background job of a serving instance, on a supervisor not yet started: the lifespan
 * (src/server.ts) starts it after migrating and stops it before closing the database. The app
 * (src/app.ts) starts none, so that a test app does no background work unless it asks.
 */
export function backgroundJobs(
  db: Database,
  config: Config,
  log: FastifyBaseLogger,
  { credentials, events }: InstanceState = {},
): Supervisor {
  const supervisor = new Supervisor(log);
  supervisor.add(eventRetentionJob(db, { eventsRetentionHours: config.eventsRetentionHours }, log));
  if (events !== undefined) supervisor.add(eventPublisherJob(db, events, { dbPoolMax: config.dbPoolMax }));
  supervisor.add(cleanupJob(db, { idempotencyKeyTtlHours: config.idempotencyKeyTtlHours, loginWindowS: config.loginWindowS }, log));
  supervisor.add(reservationExpiryJob(db, { reservationSweepS: config.reservationSweepS }, log));
  if (credentials !== undefined) supervisor.add(credentialListenerJob(db, credentials));
  // Woken when events are published, here or on another instance; else it polls.
  supervisor.add(
    webhookSenderJob(db, config, log, events === undefined ? {} : { onPublished: (listener) => events.onPublished(listener) }),
  );
  return supervisor;
}
