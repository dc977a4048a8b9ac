import type { FastifyReply, FastifyRequest } from 'fastify';
import { fingerprint, type IdempotencyRequest, type IdempotentResult } from '../services/idempotency.ts';

// The HTTP side of exactly-once writes (API.md, Idempotency; src/services/idempotency.ts): what a
// route hands its use case from the Idempotency-Key header, and how it answers the result.

/**
 * The use case's request for exactly-once execution, or undefined without an Idempotency-Key.
 * `operation` names the route (`POST /api/v1/movements`) and `input` is what it was asked: the
 * same key with another operation or input is refused. Both are stored with the key, so they
 * must not change for a given request.
 */
export function idempotencyRequestOf(
  request: FastifyRequest,
  operation: string,
  input: unknown,
  ttlHours: number,
): IdempotencyRequest | undefined {
  const key = request.headers['idempotency-key'];
  return typeof key === 'string' ? { key, fingerprint: fingerprint(operation, input), ttlHours } : undefined;
}

/**
 * Answers an idempotent write, marking a replay with Idempotent-Replayed: true. Serialised by
 * JSON.stringify, not the response schema: a replayed value is parsed from the JSON.stringify
 * text the first value was stored as (by this version or an earlier one, which answered that
 * text), and JSON.stringify gives that text back, so a replay is the first answer byte for byte.
 */
export function sendIdempotent(reply: FastifyReply, statusCode: number, result: IdempotentResult<unknown>): FastifyReply {
  if (result.replayed) reply.header('idempotent-replayed', 'true');
  return reply.code(statusCode).type('application/json').send(JSON.stringify(result.value));
}
