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
  /** Manage webhooks and read their deliveries (a webhook receives every location's events). */
  'webhooks:manage': ['admin'],
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
  /**
   * The locations it may read and move stock at; null for every location. Only stock is scoped:
   * the role alone governs the catalog, users and tokens, whatever a token's location limit.
   */
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
 * Where a credential may read and move stock; null for everywhere. Two limits meet:
 * - its creator's authority: a clerk works only at its own locations, every other role everywhere;
 * - what the credential itself is limited to: a token's own `locationIds` when it has them, else,
 *   for a credential acting as a clerk, its user's locations (a manager's clerk token acts at the
 *   manager's locations).
 * The scope is their intersection, computed at each request from the creator's current locations:
 * a clerk's token never reaches further than the clerk does now, as its role never exceeds the
 * creator's current one. An empty scope reaches nothing.
 */
export function locationScope(
  userRole: Role,
  actingRole: Role,
  userLocationIds: readonly string[],
  tokenLocationIds: readonly string[] | null = null,
): readonly string[] | null {
  const authority = userRole === 'clerk' ? userLocationIds : null;
  const limit = tokenLocationIds ?? (actingRole === 'clerk' ? userLocationIds : null);
  if (authority === null) return limit;
  if (limit === null) return authority;
  return authority.filter((locationId) => limit.includes(locationId));
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
