import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

// Session and API token secrets: 256 random bits, shown to their owner once and stored only as
// a SHA-256 hash. A fast hash is right here (unlike for passwords): nobody can guess 256 bits,
// so there is nothing for a slow hash to slow down.

const PREFIX = 'sr_';

export function newSecret(): string {
  return PREFIX + randomBytes(32).toString('base64url');
}

/** Only strings this server could have issued are worth a database lookup. */
export function looksLikeSecret(value: string): boolean {
  return /^sr_[A-Za-z0-9_-]{43}$/.test(value);
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/**
 * The CSRF token that goes with a session: derived from the session secret, so it needs no
 * storage, and only someone who holds the (HttpOnly) session cookie's value can compute it.
 */
export function csrfTokenFor(sessionSecret: string): string {
  return createHash('sha256').update(`csrf:${sessionSecret}`).digest('base64url');
}

export function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
