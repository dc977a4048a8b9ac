import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';

// The security headers of every answer, helmet's (DESIGN.md). They don't depend on the request,
// so helmet runs once, against a recorder, and the list it wrote is set on each answer: on those
// Fastify sends, and on those written straight to the socket (an unparseable request, a request
// that took too long to arrive), which no hook sees. Running helmet per request, as
// @fastify/helmet does, rebuilt it, policy parsing and all, each time: about 3 % of GET /stock's CPU.

export type HeaderList = readonly (readonly [name: string, value: string])[];

/**
 * The policy admits the documentation page's own scripts and styles (its hashes, if any) and
 * nothing from elsewhere. No upgrade-insecure-requests: the service is often reached over plain
 * HTTP on a private network or behind a TLS proxy.
 */
export function securityHeaders(docs: { script: string[]; style: string[] }): HeaderList {
  const headers = new Map<string, string>();
  const recorder = {
    setHeader: (name: string, value: string | number) => headers.set(name.toLowerCase(), String(value)),
    removeHeader: (name: string) => headers.delete(name.toLowerCase()),
  };
  let failure: unknown;
  helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        scriptSrc: ["'self'", ...docs.script],
        styleSrc: ["'self'", ...docs.style],
        upgradeInsecureRequests: null,
      },
    },
  })({} as IncomingMessage, recorder as unknown as ServerResponse, (error?: unknown) => {
    failure = error;
  });
  if (failure !== undefined) throw failure;
  return [...headers];
}

/** The headers as lines of a response head written to a socket. */
export function headerLines(headers: HeaderList): string {
  return headers.map(([name, value]) => `${name}: ${value}\r\n`).join('');
}
