import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  assertLocations,
  canAccessLocation,
  exceeds,
  holds,
  lesserRole,
  locationScope,
  PERMISSIONS,
  ROLES,
  type Actor,
  type Permission,
  type Role,
} from '../../src/domain/access.ts';
import { AppError } from '../../src/domain/errors.ts';

// Who may do what (src/domain/access.ts), alone: the role ladder, the permission table of API.md,
// and where a credential may read and move stock.

/** Weakest first: the ladder API.md describes. */
const LADDER: Role[] = ['viewer', 'clerk', 'manager', 'admin'];

/** API.md's table, written out again so that a change to src/domain/access.ts has to be a change here too. */
const WHO_HOLDS: Record<Permission, Role[]> = {
  read: ['viewer', 'clerk', 'manager', 'admin'],
  'catalog:write': ['manager', 'admin'],
  'stock:write': ['clerk', 'manager', 'admin'],
  'users:manage': ['admin'],
  'webhooks:manage': ['admin'],
  'tokens:own': ['viewer', 'clerk', 'manager', 'admin'],
  self: ['viewer', 'clerk', 'manager', 'admin'],
};

const actorAt = (locationIds: readonly string[] | null): Actor => ({
  id: 'u',
  name: 'User',
  role: 'clerk',
  locationIds,
  credentialId: 'c',
  credentialKind: 'session',
});

describe('roles', () => {
  it('are the four of the ladder', () => {
    assert.deepEqual([...ROLES].sort(), [...LADDER].sort());
  });

  it('exceed exactly the roles below them on the ladder, never themselves', () => {
    for (const role of LADDER) {
      for (const limit of LADDER) {
        assert.equal(exceeds(role, limit), LADDER.indexOf(role) > LADDER.indexOf(limit), `${role} exceeds ${limit}`);
      }
    }
  });

  it('meet at the weaker of the two, whichever comes first', () => {
    for (const a of LADDER) {
      for (const b of LADDER) {
        const weaker = LADDER[Math.min(LADDER.indexOf(a), LADDER.indexOf(b))];
        assert.equal(lesserRole(a, b), weaker, `lesserRole(${a}, ${b})`);
      }
    }
  });
});

describe('permissions', () => {
  it('are the ones of API.md, no more', () => {
    assert.deepEqual(Object.keys(PERMISSIONS).sort(), Object.keys(WHO_HOLDS).sort());
  });

  it('are held by exactly the roles API.md lists', () => {
    for (const [permission, roles] of Object.entries(WHO_HOLDS) as [Permission, Role[]][]) {
      for (const role of LADDER) {
        assert.equal(holds(role, permission), roles.includes(role), `${role} holds ${permission}`);
      }
    }
  });

  it('pass up the ladder: a role holds every permission of the roles it exceeds', () => {
    for (const permission of Object.keys(PERMISSIONS) as Permission[]) {
      for (const role of LADDER) {
        for (const weaker of LADDER.filter((other) => exceeds(role, other))) {
          if (holds(weaker, permission)) assert.ok(holds(role, permission), `${weaker} holds ${permission} but ${role} does not`);
        }
      }
    }
  });
});

describe('locationScope', () => {
  const sorted = (scope: readonly string[] | null) => (scope === null ? null : [...scope].sort());

  it('reaches everywhere for a session of any role but a clerk', () => {
    for (const role of ['viewer', 'manager', 'admin'] as const) {
      assert.equal(locationScope(role, role, ['a']), null, role);
    }
  });

  it('reaches a clerk’s own locations only, and nowhere when it has none', () => {
    assert.deepEqual(sorted(locationScope('clerk', 'clerk', ['a', 'b'])), ['a', 'b']);
    assert.deepEqual(locationScope('clerk', 'clerk', []), []);
  });

  it('gives a manager’s token acting as a clerk the manager’s locations', () => {
    assert.deepEqual(sorted(locationScope('manager', 'clerk', ['a', 'b'])), ['a', 'b']);
    assert.deepEqual(locationScope('manager', 'clerk', []), []);
  });

  it('keeps a clerk’s token acting as a viewer to the clerk’s locations', () => {
    assert.deepEqual(sorted(locationScope('clerk', 'viewer', ['a', 'b'])), ['a', 'b']);
  });

  it('limits a token of a user who works everywhere to the token’s own locations', () => {
    assert.deepEqual(sorted(locationScope('admin', 'admin', [], ['x', 'y'])), ['x', 'y']);
    assert.deepEqual(sorted(locationScope('manager', 'clerk', ['a'], ['x'])), ['x']);
  });

  it('gives a clerk’s token only the locations both the token and the clerk have now', () => {
    assert.deepEqual(sorted(locationScope('clerk', 'clerk', ['a', 'b', 'c'], ['c', 'a', 'z'])), ['a', 'c']);
    // The clerk was taken off every location the token names: the token reaches nothing.
    assert.deepEqual(locationScope('clerk', 'clerk', ['b'], ['a']), []);
  });

  it('takes a token limited to no location at its word: nowhere, not its creator’s locations', () => {
    assert.deepEqual(locationScope('admin', 'admin', ['a'], []), []);
    assert.deepEqual(locationScope('clerk', 'clerk', ['a'], []), []);
    assert.deepEqual(locationScope('manager', 'clerk', ['a'], []), []);
  });
});

describe('location access', () => {
  it('lets an actor with no location limit, or no actor (the system), work anywhere', () => {
    assert.ok(canAccessLocation(null, 'a'));
    assert.ok(canAccessLocation(actorAt(null), 'a'));
  });

  it('lets a scoped actor work at its locations only, and an empty scope nowhere', () => {
    assert.ok(canAccessLocation(actorAt(['a', 'b']), 'b'));
    assert.equal(canAccessLocation(actorAt(['a', 'b']), 'c'), false);
    assert.equal(canAccessLocation(actorAt([]), 'a'), false);
  });

  it('refuses with 403 forbidden, naming the first location the actor may not work at', () => {
    assert.throws(
      () => assertLocations(actorAt(['a']), ['a', 'b', 'c']),
      (error: unknown) => error instanceof AppError && error.code === 'forbidden' && error.status === 403 && /\bb\b/.test(error.detail),
    );
  });

  it('accepts any iterable of locations, every one of which the actor may work at, and none at all', () => {
    assert.doesNotThrow(() => assertLocations(actorAt(['a', 'b']), new Set(['b', 'a'])));
    assert.doesNotThrow(() => assertLocations(actorAt([]), []));
    assert.doesNotThrow(() => assertLocations(null, ['anywhere']));
    assert.throws(() => assertLocations(actorAt(['a']), new Set(['a', 'b'])), AppError);
  });
});
