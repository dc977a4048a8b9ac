import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { csrfTokenFor, hashSecret, looksLikeSecret, newSecret, sameSecret } from '../../src/domain/secrets.ts';

// Session and token secrets (src/domain/secrets.ts): how they are made, recognised, stored and compared.

const A_SECRET = `sr_${'A'.repeat(43)}`;

describe('secrets', () => {
  it('are sr_ and 256 random bits in base64url, never the same twice', () => {
    const secrets = Array.from({ length: 1_000 }, newSecret);
    for (const secret of secrets) {
      assert.match(secret, /^sr_[A-Za-z0-9_-]{43}$/);
      assert.equal(Buffer.from(secret.slice(3), 'base64url').length, 32);
      assert.ok(looksLikeSecret(secret));
    }
    assert.equal(new Set(secrets).size, secrets.length);
  });

  it('are recognised only in the exact form this server issues', () => {
    assert.ok(looksLikeSecret(A_SECRET));
    assert.ok(looksLikeSecret(`sr_${'-_09az'.repeat(7)}Z`));
    const refused = [
      '',
      'sr_',
      `sr_${'A'.repeat(42)}`,
      `sr_${'A'.repeat(44)}`,
      `SR_${'A'.repeat(43)}`,
      `xr_${'A'.repeat(43)}`,
      `${'A'.repeat(46)}`,
      `sr_${'A'.repeat(42)}+`, // base64, not base64url
      `sr_${'A'.repeat(42)}/`,
      `sr_${'A'.repeat(42)}=`,
      `sr_${'A'.repeat(42)}é`,
      ` ${A_SECRET}`,
      `${A_SECRET} `,
      `${A_SECRET}\n`,
      `\n${A_SECRET}`,
      `${A_SECRET}\nsr_x`,
      `Bearer ${A_SECRET}`,
    ];
    for (const value of refused) assert.equal(looksLikeSecret(value), false, JSON.stringify(value));
  });

  it('are stored as their SHA-256 digest: 32 bytes, the same for the same secret', () => {
    assert.equal(hashSecret('abc').toString('hex'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(hashSecret(A_SECRET).length, 32);
    assert.deepEqual(hashSecret(A_SECRET), hashSecret(A_SECRET));
    assert.notDeepEqual(hashSecret(A_SECRET), hashSecret(`sr_${'A'.repeat(42)}B`));
  });
});

describe('csrfTokenFor', () => {
  it('is the same for one session and differs between sessions', () => {
    const session = newSecret();
    assert.equal(csrfTokenFor(session), csrfTokenFor(session));
    assert.notEqual(csrfTokenFor(session), csrfTokenFor(newSecret()));
  });

  it('is neither the stored hash of the session nor usable as a secret itself', () => {
    const session = newSecret();
    const token = csrfTokenFor(session);
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(token, hashSecret(session).toString('base64url'));
    assert.notEqual(token, createHash('sha256').update(session).digest('base64url'));
    assert.equal(looksLikeSecret(token), false);
  });
});

describe('sameSecret', () => {
  it('is true for equal strings only', () => {
    assert.ok(sameSecret(A_SECRET, `sr_${'A'.repeat(43)}`));
    assert.equal(sameSecret(A_SECRET, `sr_${'A'.repeat(42)}B`), false);
    assert.ok(sameSecret('', ''));
  });

  it('answers false, without throwing, for values of different lengths', () => {
    assert.equal(sameSecret(A_SECRET, A_SECRET.slice(0, -1)), false);
    assert.equal(sameSecret('', A_SECRET), false);
    // The same number of characters, not of bytes: the lengths compared are the bytes'.
    assert.equal(sameSecret('é', 'e'), false);
    assert.equal(sameSecret('e', 'é'), false);
  });
});
