import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { buildApp } from '../../src/app.ts';
import { assertProblem, UNKNOWN_ID } from '../support/assertions.ts';
import {
  api,
  createHarness,
  createTestDatabase,
  listen,
  TEST_ADMIN,
  type Harness,
  type TestApp,
  type TestDatabase,
} from '../support/helpers.ts';

// The edge of the service against a hostile client: what a request costs before anyone has
// checked who sent it, what a body costs to parse, and the errors plugins raise outside the API.
// Costs are not timed here (the machine is noisy; benchmarks measure): the tests hold the
// server to what bounds them — which limit answers, and before which stage.

const MiB = 1024 * 1024;
/** A few KiB: more than any login takes (email 254, password 256 characters), far less than BODY_LIMIT_BYTES. */
const PUBLIC_BODY_LIMIT_BYTES = 4096;

/** `prefix`, then as many `item`s as fit in `bytes`, comma-separated, then `suffix`. */
function filled(prefix: string, item: string, suffix: string, bytes: number): string {
  const count = Math.floor((bytes - prefix.length - suffix.length + 1) / (item.length + 1));
  return prefix + Array.from({ length: count }, () => item).join(',') + suffix;
}

describe('request bodies: the cost of parsing one is bounded', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(() => h.close());

  /** A body sent as given, with the harness admin's token unless `authorization` says otherwise. */
  const post = (url: string, payload: string, headers: Record<string, string | undefined> = {}) =>
    api(h.app, 'POST', url, payload, headers);

  it('answers a login body past a few KiB with 413, before reading it as JSON', async () => {
    const anonymous = { authorization: undefined };
    // The largest login the schema admits is still a login: 401 for a wrong password.
    const largest = JSON.stringify({ email: `${'e'.repeat(250)}@x.y`, password: 'p'.repeat(256) });
    assertProblem(await post('/api/v1/auth/login', largest, anonymous), 401, 'unauthenticated');

    const fiveKiB = JSON.stringify({ email: TEST_ADMIN.email, password: 'p'.repeat(5 * 1024) });
    assertProblem(await post('/api/v1/auth/login', fiveKiB, anonymous), 413, 'payload_too_large');
    // The limit to the byte: one more than it is refused unread, whatever the body says.
    const justOver = ' '.repeat(PUBLIC_BODY_LIMIT_BYTES + 1 - JSON.stringify(TEST_ADMIN).length) + JSON.stringify(TEST_ADMIN);
    assertProblem(await post('/api/v1/auth/login', justOver, anonymous), 413, 'payload_too_large');
    assert.equal((await post('/api/v1/auth/login', justOver.slice(1), anonymous)).status, 200);
    // Not JSON at all, and still 413 rather than 400: the limit answers before the parser runs.
    assertProblem(await post('/api/v1/auth/login', `{"email":${'['.repeat(5 * 1024)}`, anonymous), 413, 'payload_too_large');
    // A crafted megabyte (100,000 unknown keys) costs an anonymous client no more than that.
    const keys = filled('{', '"k":0', '}', MiB).replace(/"k"/g, () => `"${Math.random().toString(36).slice(2, 8)}"`);
    assertProblem(await post('/api/v1/auth/login', keys, anonymous), 413, 'payload_too_large');
    // The right password in a small body still logs in.
    assert.equal((await post('/api/v1/auth/login', JSON.stringify(TEST_ADMIN), anonymous)).status, 200);
  });

  it('refuses a body of too many JSON values with 413 before parsing it, on an authenticated route', async () => {
    const movement = `{"type":"inbound","locationId":"${UNKNOWN_ID}","lines":[`;
    // 350,000 empty lines in a megabyte: each was one validation error, one text-guard visit and one parsed object.
    assertProblem(await post('/api/v1/movements', filled(movement, '{}', ']}', MiB)), 413, 'payload_too_large');
    // The same, cut short: 413 and not 400, so the values were counted before JSON.parse ran.
    assertProblem(await post('/api/v1/movements', filled(movement, '{}', '', MiB)), 413, 'payload_too_large');
    // 500,000 short strings where location ids go (each failed format, pattern and uniqueness).
    const user = '{"email":"a@b.c","name":"n","role":"clerk","password":"12345678","locationIds":[';
    assertProblem(await post('/api/v1/users', filled(user, '"a"', ']}', MiB)), 413, 'payload_too_large');
    // Within the bound, a body that breaks every line is a 422 naming a bounded list of errors.
    const broken = filled(movement, '{"productId":"x","quantity":"y","z":1}', ']}', 64 * 1024);
    const refused = await post('/api/v1/movements', broken);
    assertProblem(refused, 422, 'validation_failed');
    assert.ok(refused.body.errors.length > 0 && refused.body.errors.length <= 50, `${refused.body.errors.length} errors`);
  });

  it('refuses a body nested deeper than any request needs with 413', async () => {
    const depth = 1000;
    const deep = `{"name":"n","code":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    assertProblem(await post('/api/v1/locations', deep), 413, 'payload_too_large');
    // Brackets, commas and escaped quotes inside a string are text, not structure.
    const name = `\\"${'['.repeat(100)}${','.repeat(50)}"\\`;
    const created = await post('/api/v1/locations', JSON.stringify({ code: `B${Date.now()}`, name }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.name, name);
    // Shallow and long is one value: a megabyte-long name is a 422 at its path, as a short one is.
    const long = JSON.stringify({ code: 'LONG', name: 'n'.repeat(MiB - 100) });
    const answer = await post('/api/v1/locations', long);
    assertProblem(answer, 422, 'validation_failed');
    assert.deepEqual(
      answer.body.errors.map((error: { path: string }) => error.path),
      ['/name'],
    );
  });

  it('refuses a string longer than any field takes before a pattern or format runs on it', async () => {
    // ajv-formats' date-time splits its input at every "t" or space, past any length.
    const answer = await post('/api/v1/tokens', JSON.stringify({ name: 'n', expiresAt: 't '.repeat(MiB / 4) }));
    assertProblem(answer, 422, 'validation_failed');
    assert.equal(answer.body.errors.length, 1);
    assert.equal(answer.body.errors[0].path, '/expiresAt');
    assert.match(answer.body.errors[0].message, /longer than any field takes/);
    // The longest field still takes its longest value, and refuses one past it as before.
    const product = { sku: `LONG-${Date.now()}`, name: 'n' };
    assert.equal((await post('/api/v1/products', JSON.stringify({ ...product, description: '😀'.repeat(4000) }))).status, 201);
    const tooLong = await post('/api/v1/products', JSON.stringify({ ...product, sku: `${product.sku}-2`, description: 'd'.repeat(4001) }));
    assertProblem(tooLong, 422, 'validation_failed');
    assert.deepEqual(tooLong.body.errors[0], { path: '/description', message: 'must NOT have more than 4000 characters' });
  });

  it('does not parse the body of a request no route serves', async () => {
    // Answered 404 by the not-found handler whatever the body: no JSON error, no parsing cost.
    for (const url of ['/nowhere', '/healthz', '/api/v1/nowhere', '/docs/static/x']) {
      assertProblem(await post(url, '{"not json', { authorization: undefined }), 404, 'not_found');
      assertProblem(await post(url, filled('[', '{}', ']', MiB), { authorization: undefined }), 404, 'not_found');
    }
  });
});

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

describe('errors raised by plugins outside the API: /docs/static', () => {
  let database: TestDatabase;
  let app: TestApp;
  let base: string;
  const logLines: { level: number; msg: string }[] = [];

  before(async () => {
    database = await createTestDatabase();
    const stream = { write: (line: string) => void logLines.push(JSON.parse(line)) };
    app = await buildApp({ config: database.config, db: database.db, logger: { level: 'info', stream } });
    base = await listen(app);
  });
  after(async () => {
    await app.close();
    await database.destroy();
  });

  /** A request over a real socket, its path sent exactly as given (no normalisation of `..` or `%00`). */
  function send(path: string, headers: Record<string, string> = {}): Promise<RawAnswer> {
    return new Promise((resolve, reject) => {
      const outgoing = httpRequest(`${base}/`, { path, headers }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {}
          resolve({ status: response.statusCode!, headers: response.headers, body });
        });
      });
      outgoing.on('error', reject);
      outgoing.end();
    });
  }

  /** Requests one path, and holds its log lines below error level. */
  async function refused(path: string, headers: Record<string, string>, status: number, code: string): Promise<RawAnswer> {
    logLines.length = 0;
    const answer = await send(path, headers);
    assertProblem(answer, status, code);
    assert.doesNotMatch(JSON.stringify(answer.body), /node_modules|\/work\/|\bat .+:\d+:\d+/, 'nothing of the inside');
    // The answer is written before its log line: wait for that line, then look at them all.
    for (let tries = 0; tries < 100 && !logLines.some((line) => line.msg === 'request'); tries += 1)
      await new Promise((r) => setTimeout(r, 10));
    const errors = logLines.filter((line) => line.level >= 50);
    assert.deepEqual(errors, [], `${path} was logged at error level`);
    return answer;
  }

  it('answers a path that climbs out of its directory with a 403 problem document', async () => {
    await refused('/docs/static/../../etc/passwd', {}, 403, 'forbidden');
    await refused('/docs/static/%2e%2e/%2e%2e/etc/passwd', {}, 403, 'forbidden');
    // A file that isn't there is the not-found handler's 404, as anywhere else.
    await refused('/docs/static/no-such-file.css', {}, 404, 'not_found');
  });

  it('answers a NUL in the path with a 4xx problem document', async () => {
    // @fastify/static refuses a path it can't verify on disk as forbidden.
    await refused('/docs/static/%00', {}, 403, 'forbidden');
    await refused('/docs/static/index.css%00', {}, 403, 'forbidden');
  });

  it('answers an unsatisfiable Range with a 416 problem document that says the size', async () => {
    // A real file, named by the documentation page.
    const page = await send('/docs');
    assert.match(String(page.body), /\/docs\/static\/index\.css/);
    const file = await send('/docs/static/index.css');
    assert.equal(file.status, 200);
    assert.match(String(file.headers['content-type']), /^text\/css/);
    const answer = await refused('/docs/static/index.css', { range: 'bytes=999999999-' }, 416, 'bad_request');
    assert.match(String(answer.headers['content-range']), /^bytes \*\/\d+$/);
  });

  it('answers a failed precondition with a 412 problem document', async () => {
    await refused('/docs/static/index.css', { 'if-match': '"not-this-one"' }, 412, 'bad_request');
  });
});
