import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import { isForbiddenAddress } from '../domain/webhooks.ts';

// Where a webhook may send (API.md, Events; DESIGN.md, "Webhook targets"): a URL names a host,
// and what must be checked is the address it resolves to, not the name. A name can resolve to a
// public address when it is checked and to 127.0.0.1 a second later (DNS rebinding), so the
// sender never resolves twice: its connection's own lookup (`checkedLookup`) resolves, checks
// and hands the connection the addresses it checked.

/** A webhook's host can't be resolved, or resolves to an address no delivery may reach. */
export class TargetRefusedError extends Error {
  override name = 'TargetRefusedError';
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a name to all its addresses (the resolver's order); a test may give its own. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (hostname) => {
  const addresses = await dnsLookup(hostname, { all: true, verbatim: true });
  return addresses.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));
};

/**
 * The addresses `host` (a name or an IP literal, without brackets) resolves to, every one of
 * them checked: one forbidden address refuses the host, as a connection might use any of them.
 * `allowPrivateNetworks` (WEBHOOK_ALLOW_PRIVATE_NETWORKS) skips the check, not the resolution:
 * a host that does not resolve is refused either way.
 */
export async function resolveTarget(
  host: string,
  allowPrivateNetworks: boolean,
  resolver: Resolver = systemResolver,
): Promise<ResolvedAddress[]> {
  const family = isIP(host);
  let addresses: ResolvedAddress[];
  if (family !== 0) {
    addresses = [{ address: host, family: family === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await resolver(host);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new TargetRefusedError(`the host ${host} does not resolve${code === undefined ? '' : ` (${code})`}`);
    }
    if (addresses.length === 0) throw new TargetRefusedError(`the host ${host} does not resolve`);
  }
  if (!allowPrivateNetworks) {
    const forbidden = addresses.find(({ address }) => isForbiddenAddress(address));
    if (forbidden !== undefined) {
      const named = forbidden.address === host ? host : `${host} resolves to ${forbidden.address}, which`;
      throw new TargetRefusedError(
        `${named} is a loopback, private, link-local or reserved address; webhooks may not reach it (WEBHOOK_ALLOW_PRIVATE_NETWORKS)`,
      );
    }
  }
  return addresses;
}

/**
 * The `lookup` of a delivery's connection (node:http's and node:net's option): resolves the host
 * through `resolveTarget`, so the connection goes to an address that was checked, never to one a
 * second resolution might give. The TLS server name and the Host header stay the URL's name.
 */
export function checkedLookup(allowPrivateNetworks: boolean, resolver: Resolver = systemResolver): LookupFunction {
  return (hostname, options, callback) => {
    resolveTarget(hostname, allowPrivateNetworks, resolver).then(
      (resolved) => {
        const wanted = options.family === 4 || options.family === 6 ? resolved.filter((a) => a.family === options.family) : resolved;
        if (wanted.length === 0) {
          callback(new TargetRefusedError(`the host ${hostname} has no IPv${options.family} address`), '', 0);
        } else if (options.all === true) {
          callback(null, wanted);
        } else {
          callback(null, wanted[0]!.address, wanted[0]!.family);
        }
      },
      (error: Error) => callback(error as NodeJS.ErrnoException, '', 0),
    );
  };
}
