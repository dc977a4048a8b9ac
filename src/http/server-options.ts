import { LogController, type FastifyHttpOptions, type FastifyServerOptions } from 'fastify';
import type { Server } from 'node:http';
import type { Config } from '../config.ts';
import { clientErrorHandler, frameworkErrors } from './problems.ts';
import type { HeaderList } from './plugins/security-headers.ts';

// Fastify's own options: the HTTP server's limits and deadlines, the proxy, request ids, and the
// answers given before any route or hook runs.

// Headers must arrive within this, or the request's deadline if shorter (slow-header attacks).
const HEADERS_TIMEOUT_MS = 10_000;

/**
 * TRUST_PROXY as a hop count: the last `hops` addresses of the chain (the connection's own, then
 * X-Forwarded-For from the right) are proxies, the one before them the client. Fastify no longer
 * takes a number for this, so it gets proxy-addr's trust function.
 */
function trustHops(hops: number) {
  return (_address: string, hop: number) => hop < hops;
}

/**
 * `securityHeaders` gives the list the security-headers plugin sets once the documentation's
 * policy is known (src/http/plugins/security-headers.ts), for the answers no hook sees.
 */
export function serverOptions(
  config: Config,
  logger: FastifyServerOptions['logger'],
  securityHeaders: () => HeaderList,
): FastifyHttpOptions<Server> {
  return {
    logger,
    bodyLimit: config.bodyLimitBytes,
    return503OnClosing: false, // gracefulClose answers with a problem document instead
    forceCloseConnections: 'idle',
    genReqId: () => crypto.randomUUID(),
    trustProxy: typeof config.trustProxy === 'number' ? trustHops(config.trustProxy) : config.trustProxy,
    // One log line per request (src/http/plugins/request-log.ts) instead of Fastify's two:
    // measured at ~15 % of GET /stock's throughput.
    logController: new LogController({ disableRequestLogging: true }),
    // Errors before any route runs are problem documents too.
    frameworkErrors: frameworkErrors(securityHeaders),
    clientErrorHandler: clientErrorHandler(securityHeaders),
    // A request must arrive whole within its deadline, headers and body alike: past it Node's
    // HTTP server answers 408 (through clientErrorHandler) and closes, so a client trickling
    // bytes can't hold a socket and its buffers. Fastify's default (0) turns that off. Node
    // looks for such requests every connectionsCheckingInterval.
    requestTimeout: config.requestTimeoutMs,
    http: { headersTimeout: Math.min(config.requestTimeoutMs, HEADERS_TIMEOUT_MS), connectionsCheckingInterval: 1000 },
  };
}
