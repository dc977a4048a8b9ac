import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import helmet from 'helmet';

// The security headers of every answer, helmet's (DESIGN.md). They don't depend on the request,
// so helmet runs once, against a recorder, and the list it wrote is set on each answer: on those
// Fastify sends, and on those written straight to the socket (an unparseable request, a request
// that took too long to arrive), which no hook sees. Running helmet per request, as
// @fastify/helmet does, rebuilt it, policy parsing and all, each time: about 3 % of GET /stock's CPU.

export type HeaderList = readonly (readonly [name: string, value: string])[];

/**
 * Where the app keeps its list: empty until this plugin has read the documentation's policy, and
 * read from there by the answers no hook sees (src/http/server-options.ts, src/http/problems.ts).
 */
export interface SecurityHeaderHolder {
  list: HeaderList;
}

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
  // helmet calls back at once: with nothing, or with what went wrong.
  const failures: unknown[] = [];
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
    if (error !== undefined) failures.push(error);
  });
  if (failures.length > 0) throw failures[0];
  return [...headers];
}

/** The headers as lines of a response head written to a socket. */
export function headerLines(headers: HeaderList): string {
  return headers.map(([name, value]) => `${name}: ${value}\r\n`).join('');
}

/**
 * Sets the headers on every answer Fastify sends. Registered after the OpenAPI plugin (whose
 * documentation page the policy admits: app.swaggerCSP), and before anything is served.
 */
export const securityHeaderPlugin = fp(
  async (app: FastifyInstance, { holder }: { holder: SecurityHeaderHolder }) => {
    const headers = securityHeaders(app.swaggerCSP);
    holder.list = headers;
    app.addHook('onRequest', (_request, reply, done) => {
      for (const [name, value] of headers) reply.raw.setHeader(name, value);
      done();
    });
  },
  { name: 'security-headers', dependencies: ['openapi'] },
);
