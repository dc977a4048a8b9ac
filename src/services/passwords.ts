import { randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';

// Argon2id (the library's default algorithm) with OWASP's minimum cost: 19 MiB, 2 passes, 1 lane;
// spelled out so an upgrade of the library can't silently change it. The native hash runs on
// libuv's thread pool, off the event loop. Each hash carries its own random salt.
const COST = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };

export function hashPassword(password: string): Promise<string> {
  return hash(password, COST);
}

let dummyHash: Promise<string> | undefined;

/** The hash an unknown email is verified against: of a random password, made once. */
function dummy(): Promise<string> {
  return (dummyHash ??= hashPassword(randomBytes(16).toString('hex')));
}

/** Computes the dummy hash ahead of the first login, so that the first unknown email isn't slower. */
export function prepareDummyHash(): void {
  void dummy();
}

/**
 * Checks a password against a stored hash. Without one (no such user) it verifies against a
 * dummy hash anyway, so that an unknown email takes as long to refuse as a wrong password.
 */
export async function verifyPassword(storedHash: string | undefined, password: string): Promise<boolean> {
  const dummyHashed = dummy(); // made on any first check, so that the first unknown email isn't slower
  const matches = await verify(storedHash ?? (await dummyHashed), password).catch(() => false);
  return storedHash !== undefined && matches;
}
