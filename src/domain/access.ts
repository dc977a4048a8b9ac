import { AppError } from './errors.ts';

// Who may do what (API.md, Authentication). Routes declare the permission they need; this module
// is the one place that says which roles hold it and which locations an actor may touch.

export const ROLES = ['admin', 'manager', 'clerk', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/** Higher is more powerful; a role "exceeds" another with a lower rank. */
const RANK: Record<Role, number> = { viewer: 0, clerk: 1, manager: 2, admin: 3 };

export const PERMISSIONS = {
  /** Read categories, products, locations, stock levels and the ledger (a clerk: its own locations). */
  read: ['admin', 'manager', 'clerk', 'viewer'],
  /** Create and change categories, products and locations. */
  'catalog:write': ['admin', 'manager'],
  /** Record movements (a clerk: at its own locations only). */
  'stock:write': ['admin', 'manager', 'clerk'],
  /** Manage users. */
  'users:manage': ['admin'],
  /** Create, list and revoke one's own API tokens (an admin: everyone's). */
  'tokens:own': ['admin', 'manager', 'clerk', 'viewer'],
  /** Anything an authenticated user may do for itself: /me, logout. */
  self: ['admin', 'manager', 'clerk', 'viewer'],
} as const satisfies Record<string, readonly Role[]>;

export type Permission = keyof typeof PERMISSIONS;

/** The acting user as a use case sees it. */
export interface Actor {
  id: string;
  name: string;
  /** The role it acts with: a token's own role, never above its creator's current one. */
  role: Role;
  /** The locations it may read and move stock at; null for every location. */
  locationIds: readonly string[] | null;
  /** The credential the request presented. */
  credentialId: string;
  credentialKind: 'session' | 'token';
}

export function exceeds(role: Role, limit: Role): boolean {
  return RANK[role] > RANK[limit];
}

/** The weaker of two roles. */
export function lesserRole(a: Role, b: Role): Role {
  return RANK[a] <= RANK[b] ? a : b;
}

export function holds(role: Role, permission: Permission): boolean {
  return (PERMISSIONS[permission] as readonly Role[]).includes(role);
}

/**
 * Only clerks are scoped to locations; every other role sees the whole business. A token is
 * scoped if it acts as a clerk or if its creator is one: a clerk's viewer token must not see
 * more locations than the clerk.
 */
export function locationScope(userRole: Role, actingRole: Role, locationIds: readonly string[]): readonly string[] | null {
  return userRole === 'clerk' || actingRole === 'clerk' ? locationIds : null;
}

export function canAccessLocation(actor: Actor | null, locationId: string): boolean {
  return actor === null || actor.locationIds === null || actor.locationIds.includes(locationId);
}

/** Throws 403 unless the actor may work at every one of these locations. */
export function assertLocations(actor: Actor | null, locationIds: Iterable<string>): void {
  for (const locationId of locationIds) {
    if (!canAccessLocation(actor, locationId)) {
      throw new AppError('forbidden', `you are not assigned to location ${locationId}`);
    }
  }
}
