import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { AppError, type ErrorCode } from '../domain/errors.ts';
import { formatWords, patternWords } from './schemas/common.ts';
import { isDiscardingBody } from './plugins/early-answers.ts';
import { ClientGoneError } from './plugins/request-scope.ts';
import { headerLines, type HeaderList } from './plugins/security-headers.ts';

// One mapping from every failure to an RFC 9457 problem document (API.md, Conventions). What a
// client is shown is the code, a title and a detail written for it: never a stack, SQL or path.

const TITLES: Record<ErrorCode | 'internal_error', string> = {
  bad_request: 'Bad request',
  unauthenticated: 'Authentication required',
  forbidden: 'Forbidden',
  not_found: 'Not found',
  conflict: 'Conflict',
  insufficient_stock: 'Insufficient stock',
  stale_quantity: 'Stale quantity',
  idempotency_key_in_progress: 'Idempotency key in progress',
  payload_too_large: 'Payload too large',
  unsupported_media_type: 'Unsupported media type',
  validation_failed: 'Validation failed',
  idempotency_key_reused: 'Idempotency key reused',
  rate_limited: 'Too many requests',
  unavailable: 'Service unavailable',
  timeout: 'Request timeout',
  internal_error: 'Internal server error',
};

const VALIDATION_ERRORS_MAX = 50;

/** The problem document's text (also for answers written straight to a socket). */
export function problemDocument(
  status: number,
  code: ErrorCode | 'internal_error',
  detail: string,
  extras: Record<string, unknown> = {},
): string {
  return JSON.stringify({ type: `urn:stockroom:problem:${code}`, title: TITLES[code], status, detail, code, ...extras });
}

export function sendProblem(
  reply: FastifyReply,
  status: number,
  code: ErrorCode | 'internal_error',
  detail: string,
  extras: Record<string, unknown> = {},
  retryAfterS?: number,
) {
  if (retryAfterS !== undefined) reply.header('retry-after', String(retryAfterS));
  return reply
    .code(status)
    .type('application/problem+json')
    .send(problemDocument(status, code, detail, extras));
}

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: { missingProperty?: string; additionalProperty?: string; pattern?: string; format?: string };
}

function messageOf(error: AjvError): string {
  switch (error.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not a known field';
    // Ajv's own words for these show the regular expression: the schemas' words instead.
    case 'pattern':
      return patternWords(error.params.pattern) ?? 'is not in the accepted form';
    case 'format':
      return formatWords(error.params.format) ?? 'is not in the accepted form';
  }
  return error.message ?? 'is invalid';
}

function validationErrors(errors: AjvError[]) {
  const found: { path: string; message: string }[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    if (found.length === VALIDATION_ERRORS_MAX) break;
    const path =
      error.keyword === 'required'
        ? `${error.instancePath}/${error.params.missingProperty}`
        : error.keyword === 'additionalProperties'
          ? `${error.instancePath}/${error.params.additionalProperty}`
          : error.instancePath === ''
            ? '/'
            : error.instancePath;
    const message = messageOf(error);
    // A value that fails both its format and its pattern (a UUID, a timestamp) is told once.
    const key = `${path}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    found.push({ path, message });
  }
  return found;
}

const PART_NAMES: Record<string, string> = { body: 'body', querystring: 'query string', params: 'path', headers: 'headers' };

/**
 * Answers Node's HTTP server writes straight to the socket, which Fastify never sees: a request
 * its parser refuses (a malformed request line or header, headers past 16 KiB) gets 400, and one
 * whose headers or body did not arrive within the deadline gets 408 — as problem documents with
 * the security headers, like every answer. A connection whose answer has already begun, or whose
 * early answer has gone out while the rest of its body is thrown away (src/http/plugins/early-answers.ts),
 * is closed without another word: anything written now would corrupt what the client reads.
 */
export function clientErrorHandler(securityHeaders: () => HeaderList) {
  return (error: Error & { code?: string }, socket: Duplex & { _httpMessage?: { headersSent: boolean } | null }): void => {
    const answered = socket._httpMessage?.headersSent === true || isDiscardingBody(socket as Socket);
    if (error.code === 'ECONNRESET' || !socket.writable || answered) {
      socket.destroy();
      return;
    }
    const [status, code, detail] =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? ([408, 'timeout', 'the request did not arrive within its deadline'] as const)
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? ([400, 'bad_request', 'the request headers are too large'] as const)
          : ([400, 'bad_request', 'the request is not valid HTTP'] as const);
    const body = problemDocument(status, code, detail);
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `${headerLines(securityHeaders())}Connection: close\r\n\r\n${body}`,
    );
  };
}

/**
 * Errors Fastify's router raises before a route runs (a URL it can't decode, a path parameter
 * past its length limit). No onRequest hook has run, so the security headers are set here.
 */
export function frameworkErrors(securityHeaders: () => HeaderList) {
  // Fastify does nothing with what this returns (the reply, which is thenable): it returns nothing.
  return (error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void => {
    for (const [name, value] of securityHeaders()) reply.header(name, value);
    const detail = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path parameter is too long' : 'the URL is malformed';
    void sendProblem(reply, 400, 'bad_request', detail);
  };
}

/** The codes of API.md for the 4xx statuses a plugin may raise; any other 4xx is `bad_request` with its own status. */
const CLIENT_ERROR_CODES: Partial<Record<number, ErrorCode>> = {
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  429: 'rate_limited',
};

/** The 4xx status an error carries (`statusCode`, or `status` as http-errors also sets), if it carries one. */
function clientErrorStatus(error: { statusCode?: number; status?: number }): number | undefined {
  const status = error.statusCode ?? error.status;
  return typeof status === 'number' && Number.isInteger(status) && status >= 400 && status < 500 ? status : undefined;
}

function sendClientError(reply: FastifyReply, status: number, error: Error & { headers?: unknown }) {
  switch (status) {
    case 400:
      return sendProblem(reply, 400, 'bad_request', 'the request is malformed');
    case 413:
      return sendProblem(reply, 413, 'payload_too_large', 'the body is larger than this server accepts');
    case 415: // API.md: a wrong content type is a 400 (415 is for uploads, whose routes say so themselves)
      return sendProblem(reply, 400, 'bad_request', 'this content type is not accepted here');
  }
  // Headers the status needs (416: Content-Range, 429: Retry-After); the problem sets the content type.
  if (error.headers !== null && typeof error.headers === 'object') reply.headers(error.headers as Record<string, string>);
  const code = CLIENT_ERROR_CODES[status] ?? 'bad_request';
  return sendProblem(reply, status, code, `the request was refused: ${STATUS_CODES[status] ?? `status ${status}`}`);
}

export function registerProblemHandlers(app: FastifyInstance) {
  // Fastify's default joins every validation error into the message, which nothing reads (the
  // handler below names VALIDATION_ERRORS_MAX of them): 260 ms for a body with 500,000 errors.
  app.setSchemaErrorFormatter((errors, part) => new Error(`the ${part} is invalid (${errors.length} errors)`));
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof ClientGoneError) {
      // Nobody is left to answer; the transaction has been rolled back.
      request.log.info('client went away before the answer; its work was rolled back');
      return reply.code(499).send();
    }
    if (error instanceof AppError) {
      if (error.status >= 500) request.log.warn({ code: error.code }, error.detail);
      return sendProblem(reply, error.status, error.code, error.detail, error.extras, error.retryAfterS);
    }
    if (error.validation !== undefined) {
      const errors = validationErrors(error.validation as AjvError[]);
      const part = PART_NAMES[error.validationContext ?? 'body'] ?? 'request';
      const detail = `the ${part} is invalid: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`;
      return sendProblem(reply, 422, 'validation_failed', detail, { errors });
    }
    switch (error.code) {
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return sendProblem(
          reply,
          400,
          'bad_request',
          `Content-Type ${request.headers['content-type'] ?? '(none)'} is not accepted here; send application/json`,
        );
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return sendProblem(reply, 400, 'bad_request', 'the JSON body is empty');
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return sendProblem(reply, 400, 'bad_request', 'the body is not valid JSON');
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return sendProblem(reply, 413, 'payload_too_large', 'the body is larger than this server accepts');
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return sendProblem(reply, 400, 'bad_request', 'Content-Length does not match the body');
    }
    if (error instanceof SyntaxError) return sendProblem(reply, 400, 'bad_request', 'the request is malformed');
    const status = clientErrorStatus(error);
    if (status !== undefined) {
      // A 4xx raised by Fastify or a plugin, e.g. @fastify/static behind /docs: 403 for a path out of
      // its directory, 416 for an unsatisfiable Range (its Content-Range in `headers`). The client's
      // mistake, not ours: its own status, logged as information.
      request.log.info({ statusCode: status, code: error.code, reason: error.message }, 'request refused');
      return sendClientError(reply, status, error);
    }
    request.log.error({ err: error }, 'unhandled error');
    return sendProblem(reply, 500, 'internal_error', 'something went wrong on our side; it has been logged');
  });
}

/**
 * The answer to a request no route serves: the API's under /api/v1 (src/http/routes/index.ts),
 * and today every other path's too (src/http/plugins/not-found.ts).
 */
export function sendNotFound(request: FastifyRequest, reply: FastifyReply) {
  return sendProblem(reply, 404, 'not_found', `there is no ${request.method} ${request.url.split('?')[0]}`);
}
