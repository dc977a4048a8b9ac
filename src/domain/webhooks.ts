import { createHmac, randomBytes } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { FieldError } from './errors.ts';

// The rules of webhooks that need no database (API.md, Events): which events a webhook may
// subscribe to, what a URL must be, which addresses a delivery may never reach, how a delivery
// is signed (Standard Webhooks, so that its published verifiers check it unchanged) and how long
// a failed one waits before its next attempt.

export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

// ---- Secrets and signatures -------------------------------------------------------------------

const SECRET_PREFIX = 'whsec_';
/** 192 bits: Standard Webhooks asks for 24 to 64 random bytes. */
const SECRET_BYTES = 24;

/** A new signing secret in the Standard Webhooks form: `whsec_` and the base64 of its key's bytes. */
export function newWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64');
}

/** What a delivery carries to be verified: `webhook-id`, `webhook-timestamp`, `webhook-signature`. */
export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/**
 * The Standard Webhooks headers of one attempt: `v1,` and the base64 HMAC-SHA256, keyed with the
 * secret's decoded bytes, of `{id}.{timestamp}.{body}`. `id` is the event's id, the same on every
 * retry (receivers de-duplicate by it); the timestamp is the attempt's, so that a receiver's
 * tolerance window (five minutes in the published verifiers) never refuses a late retry.
 */
export function signDelivery(secret: string, id: string, timestampS: number, body: string): SignedHeaders {
  if (!secret.startsWith(SECRET_PREFIX)) throw new Error('a webhook secret starts with whsec_');
  const key = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
  const signature = createHmac('sha256', key).update(`${id}.${timestampS}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(timestampS), 'webhook-signature': `v1,${signature}` };
}

// ---- Retries ----------------------------------------------------------------------------------

export interface RetrySchedule {
  webhookRetryBaseMs: number;
  webhookRetryMaxMs: number;
}

/** The most jitter takes off a wait: a quarter. */
const JITTER_FRACTION = 0.25;

/**
 * How long the `retry`-th retry (1 for the one after the first failure) waits: about
 * base × 4^(retry−1), at most the maximum. Jitter only shortens a wait, by up to a quarter, so
 * that the deliveries that failed together (an endpoint down) come back spread out, and no wait
 * exceeds WEBHOOK_RETRY_MAX_MS.
 */
export function retryDelayMs(retry: number, schedule: RetrySchedule, random: () => number = Math.random): number {
  if (!Number.isInteger(retry) || retry < 1) throw new Error(`a retry is numbered from 1, got ${retry}`);
  const nominal = Math.min(schedule.webhookRetryBaseMs * 4 ** (retry - 1), schedule.webhookRetryMaxMs);
  return Math.round(nominal * (1 - JITTER_FRACTION * random()));
}

// ---- Targets ----------------------------------------------------------------------------------

/** The longest URL a webhook may have. */
export const WEBHOOK_URL_LENGTH_MAX = 2048;

/**
 * What is wrong with a webhook's URL, if anything: it must be an absolute http(s) URL with a host
 * and without credentials (a secret in a URL ends up in logs; the signature is the credential).
 * Where it points is checked apart, once its host is resolved (`isForbiddenAddress`).
 */
export function checkWebhookUrl(raw: string, path = '/url'): FieldError[] {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return [{ path, message: 'must be an absolute http or https URL' }];
  }
  const errors: FieldError[] = [];
  if (url.protocol !== 'http:' && url.protocol !== 'https:') errors.push({ path, message: 'must be an http or https URL' });
  if (url.username !== '' || url.password !== '') errors.push({ path, message: 'must not contain credentials (user:password@)' });
  if (url.hostname === '') errors.push({ path, message: 'must name a host' });
  return errors;
}

/** A URL's host as a resolver takes it: an IPv6 literal without its brackets. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

// IPv4 ranges no webhook may reach: not a public unicast address.
const FORBIDDEN_V4: [network: string, prefix: number][] = [
  ['0.0.0.0', 8], // "this network", the unspecified address
  ['10.0.0.0', 8], // private (RFC 1918)
  ['100.64.0.0', 10], // carrier-grade NAT (RFC 6598)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata services (169.254.169.254)
  ['172.16.0.0', 12], // private (RFC 1918)
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast (deprecated)
  ['192.168.0.0', 16], // private (RFC 1918)
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and the broadcast address 255.255.255.255
];

// IPv6 ranges no webhook may reach. IPv4-mapped addresses (::ffff:0:0/96) are checked against the
// IPv4 ranges by BlockList itself; the forms below that embed an IPv4 address get the IPv4 ranges
// added in their own prefix.
const FORBIDDEN_V6: [network: string, prefix: number][] = [
  ['::', 96], // the unspecified address, loopback (::1) and the deprecated IPv4-compatible form
  ['64:ff9b:1::', 48], // local-use NAT64 (RFC 8215)
  ['100::', 64], // discard-only
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local (ULA)
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
];

/** The groups of an IPv4 network as the last 32 bits of an IPv6 address: 10.0.0.0 → a00:0. */
function v4AsV6Groups(network: string): string {
  const [a = 0, b = 0, c = 0, d = 0] = network.split('.').map(Number);
  return `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

const FORBIDDEN = new BlockList();
for (const [network, prefix] of FORBIDDEN_V4) {
  FORBIDDEN.addSubnet(network, prefix, 'ipv4');
  // NAT64 (64:ff9b::/96, RFC 6052) reaches the IPv4 address in its last 32 bits.
  FORBIDDEN.addSubnet(`64:ff9b::${v4AsV6Groups(network)}`, 96 + prefix, 'ipv6');
  // 6to4 (2002::/16) embeds one right after its prefix.
  FORBIDDEN.addSubnet(`2002:${v4AsV6Groups(network)}::`, 16 + prefix, 'ipv6');
}
for (const [network, prefix] of FORBIDDEN_V6) FORBIDDEN.addSubnet(network, prefix, 'ipv6');

/**
 * Whether a delivery may never connect to this address: loopback, private, link-local,
 * unspecified, multicast, reserved or documentation ranges, in IPv4 or IPv6, including the IPv6
 * forms that embed such an IPv4 address (mapped, NAT64, 6to4). What is not an IP address is
 * forbidden too: only an address can be checked.
 */
export function isForbiddenAddress(address: string): boolean {
  // A zone (fe80::1%eth0) is not part of the address, and BlockList would not match it with one.
  const bare = address.replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 0) return true;
  return FORBIDDEN.check(bare, family === 4 ? 'ipv4' : 'ipv6');
}
