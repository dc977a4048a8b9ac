import assert from 'node:assert/strict';
import type { ApiResponse } from './helpers.ts';

// Assertions and constants the specification tests share.

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** A well-formed id that no row has. */
export const UNKNOWN_ID = '00000000-0000-7000-8000-000000000000';

let tagCounter = 0;
/** A token no other test uses, to tell this test's rows apart in a shared database. */
export const tag = () => `t${process.pid.toString(36)}${Date.now().toString(36)}${(tagCounter += 1)}`;

/** The answer is the RFC 9457 problem of API.md with this status and code. */
export function assertProblem(response: ApiResponse, status: number, code: string) {
  assert.equal(response.status, status, `expected ${status} ${code}, got ${response.status}: ${JSON.stringify(response.body)}`);
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
  assert.equal(response.body.status, status);
  assert.equal(response.body.code, code);
  assert.equal(typeof response.body.type, 'string');
  assert.equal(typeof response.body.title, 'string');
  assert.equal(typeof response.body.detail, 'string');
}

/** A 422 validation problem with an error at `path`. */
export function assertValidationError(response: ApiResponse, path: string) {
  assertProblem(response, 422, 'validation_failed');
  assert.ok(Array.isArray(response.body.errors), 'a validation problem carries errors[]');
  const paths = (response.body.errors as { path: string }[]).map((error) => error.path);
  assert.ok(paths.includes(path), `expected an error at ${path}, got ${JSON.stringify(paths)}`);
}
