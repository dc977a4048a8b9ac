import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuthenticatedRow } from '../../src/db/credentials.ts';
import { CredentialCache, type CredentialCacheOptions } from '../../src/services/credential-cache.ts';

// What an instance remembers of credentials (src/services/credential-cache.ts), alone. How the
// instances forget together, over PostgreSQL's NOTIFY, is test/faults/credential-cache.test.ts.

const row = (expiresAt: Date | null = null): AuthenticatedRow => ({
  credentialId: 'c',
  kind: 'token',
  userId: 'u',
  userName: 'User',
  userRole: 'clerk',
  tokenRole: 'viewer',
  locationIds: [],
  tokenLocationIds: null,
  lastUsedAt: null,
  expiresAt,
});

/** A cache listening through a stand-in for the LISTEN connection, live while `live()` says so. */
function listeningCache(options: CredentialCacheOptions, live = () => true): CredentialCache {
  const cache = new CredentialCache(options);
  cache.listen({
    listen: () => ({
      get live() {
        return live();
      },
      close: async () => undefined,
    }),
  });
  return cache;
}

describe('the credential cache', () => {
  it('remembers a credential until its time to live, and never past the credential’s own expiry', () => {
    const cache = listeningCache({ ttlS: 10 });
    cache.put('a', row(), cache.generation, 1_000);
    cache.put('b', row(new Date(5_000)), cache.generation, 1_000);
    assert.ok(cache.get('a', 10_999));
    assert.equal(cache.get('a', 11_000), undefined);
    assert.ok(cache.get('b', 4_999));
    assert.equal(cache.get('b', 5_000), undefined);
  });

  it('does not store a lookup that was running when it was cleared', () => {
    const cache = listeningCache({ ttlS: 10 });
    const started = cache.generation;
    cache.clear();
    cache.put('a', row(), started);
    assert.equal(cache.get('a'), undefined);
    cache.put('a', row(), cache.generation);
    assert.ok(cache.get('a'));
  });

  it('neither stores nor answers while it is not live', () => {
    let live = true;
    const cache = listeningCache({ ttlS: 10 }, () => live);
    cache.put('a', row(), cache.generation);
    live = false;
    assert.equal(cache.get('a'), undefined);
    cache.put('b', row(), cache.generation);
    live = true;
    assert.equal(cache.get('b'), undefined);
  });

  it('drops the oldest entry when full, and stores nothing with a time to live of 0', () => {
    const cache = listeningCache({ ttlS: 10, maxEntries: 2 });
    for (const key of ['a', 'b', 'c']) cache.put(key, row(), cache.generation);
    assert.deepEqual([cache.get('a'), cache.size], [undefined, 2]);
    assert.ok(cache.get('c'));
    const off = listeningCache({ ttlS: 0 });
    off.put('a', row(), off.generation);
    assert.equal(off.size, 0);
  });

  it('remembers nothing before it listens, and nothing once it has stopped', async () => {
    const cache = new CredentialCache({ ttlS: 10 });
    cache.put('a', row(), cache.generation);
    assert.deepEqual([cache.live, cache.size], [false, 0]);
    const stop = cache.listen({ listen: () => ({ live: true, close: async () => undefined }) });
    cache.put('a', row(), cache.generation);
    assert.ok(cache.get('a'));
    await stop();
    assert.deepEqual([cache.live, cache.size, cache.get('a')], [false, 0, undefined]);
  });
});
