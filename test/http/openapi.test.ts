import multipart from '@fastify/multipart';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { createConfig, lintFromString, type NormalizedProblem } from '@redocly/openapi-core';
import Fastify from 'fastify';
import openapiTS, { astToString } from 'openapi-typescript';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Type } from 'typebox';
import { openapi } from '../../src/http/plugins/openapi.ts';
import { binaryResponse, commonSchemas, csvBody, csvResponse, multipartFile, problems } from '../../src/http/schemas/common.ts';
import { validatorCompiler } from '../../src/http/validator.ts';
import { createHarness, type Harness } from '../support/helpers.ts';

// The web UI's typed client is generated from the OpenAPI document printed by scripts/openapi.ts,
// which builds the app without a database. What it prints must be what the API serves, and it
// must be a document client generators accept: Redocly's recommended rules, and a typed client
// (openapi-typescript) that a program type-checks against.

type Operation = { operationId?: string; responses?: Record<string, unknown> };
type Document = { paths: Record<string, Record<string, Operation>> };

let h: Harness;
let served: string;
before(async () => {
  h = await createHarness({}, { jobs: false });
  const response = await h.app.inject({ method: 'GET', url: '/openapi.json' });
  assert.equal(response.statusCode, 200);
  served = response.body;
});
after(() => h.close());

const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);
const operationsOf = (document: Document) =>
  Object.entries(document.paths).flatMap(([url, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.has(method))
      .map(([method, operation]) => ({ name: `${method.toUpperCase()} ${url}`, operation })),
  );

/**
 * What Redocly's recommended rules find in `source`, but for the exceptions below, each a rule
 * and the places it is waived, with why no client generator cares.
 */
async function lint(source: string): Promise<string[]> {
  const absoluteRef = path.join(process.cwd(), 'openapi.json');
  const ignore = {
    [absoluteRef]: {
      // The health probes (GET /healthz, /readyz) have no client error to describe: they take no
      // input, answer 200 or 503 whoever asks, and a load balancer reads their status alone.
      'operation-4xx-response': new Set(['#/paths/~1healthz/get/responses', '#/paths/~1readyz/get/responses']),
    },
  };
  const config = await createConfig({ extends: ['recommended'] }, { ignore });
  const found: NormalizedProblem[] = await lintFromString({ source, absoluteRef, config });
  return found
    .filter((problem) => !problem.ignored)
    .map((problem) => `${problem.severity} ${problem.ruleId} ${problem.location[0]?.pointer}: ${problem.message}`);
}

/** Type-checks `program` (program.ts) beside the types openapi-typescript generates from each document (name.ts). */
async function typeCheck(documents: Record<string, string>, program: string): Promise<{ ok: boolean; output: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'stockroom-openapi-'));
  try {
    for (const [name, source] of Object.entries(documents)) {
      await writeFile(path.join(dir, `${name}.ts`), astToString(await openapiTS(source, { silent: true })));
    }
    await writeFile(path.join(dir, 'program.ts'), program);
    const tsc = path.join(process.cwd(), 'node_modules/typescript/bin/tsc');
    const args = ['--noEmit', '--strict', '--target', 'es2022', '--module', 'esnext', '--moduleResolution', 'bundler'];
    const result = await promisify(execFile)(process.execPath, [tsc, ...args, path.join(dir, 'program.ts')], { cwd: dir }).then(
      ({ stdout }) => ({ ok: true, output: stdout }),
      (error: { stdout?: string; stderr?: string }) => ({ ok: false, output: `${error.stdout ?? ''}${error.stderr ?? ''}` }),
    );
    return { ok: result.ok, output: result.output.replaceAll(dir, '.') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('scripts/openapi.ts', () => {
  it('prints, with no database to reach, byte for byte the document a running app serves at /openapi.json', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/openapi.ts'], {
      cwd: process.cwd(),
      // Where a database would be looked for is nowhere: a query would fail, not find one.
      env: { ...process.env, DATABASE_URL: 'postgres://nobody@127.0.0.1:9/nothing', STOCKROOM_DATA_DIR: '/nonexistent/stockroom' },
      maxBuffer: 16 * 1024 * 1024,
    });
    assert.ok(served.length > 0);
    assert.equal(stdout, served);
  });
});

describe('/openapi.json, as client generators read it', () => {
  it('names every operation with a unique camelCase operationId', () => {
    const operations = operationsOf(JSON.parse(served) as Document);
    assert.ok(operations.length >= 45, `only ${operations.length} operations`);
    const unnamed = operations.filter(({ operation }) => !/^[a-z][A-Za-z]+$/.test(operation.operationId ?? ''));
    assert.deepEqual(
      unnamed.map(({ name, operation }) => `${name}: ${operation.operationId}`),
      [],
    );
    const seen = new Map<string, string>();
    for (const { name, operation } of operations) {
      const first = seen.get(operation.operationId!);
      assert.equal(first, undefined, `${name} and ${first} are both ${operation.operationId}`);
      seen.set(operation.operationId!, name);
    }
  });

  it('keeps the operationIds clients already call', () => {
    const ids = new Set(operationsOf(JSON.parse(served) as Document).map(({ operation }) => operation.operationId));
    for (const id of [
      'login',
      'getMe',
      'listProducts',
      'lookupProduct',
      'getProductStock',
      'recordMovement',
      'listStock',
      'fulfilReservation',
      'streamEvents',
      'listWebhookDeliveries',
    ]) {
      assert.ok(ids.has(id), `no operation ${id}`);
    }
  });

  it("passes Redocly's recommended rules: no error, no warning", async () => {
    assert.deepEqual(await lint(served), []);
  });

  it('lists the 4xx answers of every operation of the API', () => {
    for (const { name, operation } of operationsOf(JSON.parse(served) as Document)) {
      if (!name.includes(' /api/v1/')) continue;
      const statuses = Object.keys(operation.responses ?? {});
      assert.ok(
        statuses.some((status) => /^4/.test(status)),
        `${name} answers only ${statuses.join(', ')}`,
      );
      assert.ok(statuses.includes('401') || name === 'POST /api/v1/auth/login', `${name} has no 401`);
    }
  });

  it('lint finds what it should: an operation without an operationId or a 4xx answer is a warning', async () => {
    const document = JSON.parse(served) as Document;
    const operation = document.paths['/api/v1/stock']!.get!;
    delete operation.operationId;
    for (const status of Object.keys(operation.responses!)) if (status.startsWith('4')) delete operation.responses![status];
    const found = await lint(JSON.stringify(document));
    assert.deepEqual(found.map((line) => line.split(' ').slice(0, 2).join(' ')).sort(), [
      'warn operation-4xx-response',
      'warn operation-operationId',
    ]);
  });

  it('generates a typed client (openapi-typescript) that a program type-checks against, and that refuses a wrong call', async () => {
    const program = `
import type { components, operations, paths } from './stockroom';

type RecordMovement = operations['recordMovement']['requestBody']['content']['application/json'];
export const movement: RecordMovement = {
  type: 'inbound',
  locationId: '0190a5b2-7c3e-7000-8000-000000000000',
  lines: [{ productId: '0190a5b2-7c3e-7000-8000-000000000001', quantity: 5 }],
};
export const wrong: RecordMovement = {
  type: 'inbound',
  locationId: '0190a5b2-7c3e-7000-8000-000000000000',
  // @ts-expect-error a quantity is a number, not its text
  lines: [{ productId: '0190a5b2-7c3e-7000-8000-000000000001', quantity: '5' }],
};
// @ts-expect-error there is no such movement type
export const unknownType: RecordMovement['type'] = 'theft';

type StockLevel = paths['/api/v1/stock']['get']['responses'][200]['content']['application/json']['items'][number];
export const available = (level: StockLevel): number => level.onHand - level.reserved;

type Refused = operations['recordMovement']['responses'][422]['content']['application/problem+json'];
export const codeOf = (problem: Refused): string => problem.code;
export const problemCode: components['schemas']['Problem']['code'] = 'not_found';

type ListStockQuery = NonNullable<operations['listStock']['parameters']['query']>;
export const query: ListStockQuery = { limit: 10 };
`;
    const { ok, output } = await typeCheck({ stockroom: served }, program);
    assert.equal(output, '');
    assert.ok(ok);
  });
});

// How a route describes a body or an answer that is not JSON (the recipe in
// src/http/plugins/openapi.ts), shown on example routes: only this test registers them.
describe('non-JSON bodies and answers (schemas/common.ts: multipartFile, csvBody, csvResponse, binaryResponse)', () => {
  const PNG = Buffer.from('89504e470d0a1a0a', 'hex');
  let example: Awaited<ReturnType<typeof buildExample>> | undefined;
  let exampleDocument: string;

  async function buildExample() {
    const app = Fastify().withTypeProvider<TypeBoxTypeProvider>();
    app.setValidatorCompiler(validatorCompiler());
    await app.register(openapi);
    await app.register(multipart);
    for (const schema of commonSchemas) app.addSchema(schema);
    // A CSV route streams its body; here it is collected, to show that it arrives unvalidated.
    app.addContentTypeParser('text/csv', { parseAs: 'string' }, (_request, body, done) => done(null, body));
    app.put(
      '/example/:id/image',
      {
        schema: {
          operationId: 'uploadExampleImage',
          summary: 'Upload an image',
          body: multipartFile({ description: 'A PNG, JPEG or WebP image' }),
          response: { 200: Type.Object({ bytes: Type.Integer() }), ...problems(400, 413, 415) },
        },
      },
      async (request) => {
        const file = await request.file();
        return { bytes: file === undefined ? 0 : (await file.toBuffer()).length };
      },
    );
    app.get(
      '/example/image',
      {
        schema: {
          operationId: 'getExampleImage',
          summary: 'Get an image',
          response: { 200: binaryResponse(['image/png', 'image/webp'], 'The image'), ...problems(404) },
        },
      },
      async (_request, reply) => reply.type('image/png').send(PNG),
    );
    app.post(
      '/example/import',
      {
        schema: {
          operationId: 'importExamples',
          summary: 'Import a CSV file, or the same lines as JSON',
          body: {
            content: {
              ...csvBody('One product a line, after a header line').content,
              'application/json': { schema: Type.Object({ lines: Type.Array(Type.Object({ sku: Type.String() })) }) },
            },
          },
          response: { 200: csvResponse('The lines, as CSV'), ...problems(400, 415, 422) },
        },
      },
      async (request, reply) => {
        const text = typeof request.body === 'string' ? request.body : JSON.stringify(request.body);
        return reply.type('text/csv; charset=utf-8').send(text);
      },
    );
    await app.ready();
    return app;
  }

  before(async () => {
    example = await buildExample();
    exampleDocument = (await example.inject({ method: 'GET', url: '/openapi.json' })).body;
  });
  after(() => example?.close());

  it('describes a multipart upload as a form whose file part is binary', () => {
    const operation = JSON.parse(exampleDocument).paths['/example/{id}/image'].put;
    assert.deepEqual(operation.requestBody, {
      required: true,
      content: {
        'multipart/form-data': {
          schema: {
            type: 'object',
            required: ['file'],
            properties: { file: { type: 'string', format: 'binary', description: 'A PNG, JPEG or WebP image' } },
          },
        },
      },
    });
  });

  it('describes a CSV body as text/csv beside its JSON form, and answers of bytes by their media types', () => {
    const paths = JSON.parse(exampleDocument).paths;
    const importing = paths['/example/import'].post;
    assert.deepEqual(importing.requestBody.content['text/csv'], {
      schema: { type: 'string', description: 'One product a line, after a header line' },
    });
    assert.equal(importing.requestBody.content['application/json'].schema.type, 'object');
    assert.deepEqual(importing.responses['200'], {
      description: 'The lines, as CSV',
      content: { 'text/csv': { schema: { type: 'string' } } },
    });
    assert.deepEqual(paths['/example/image'].get.responses['200'], {
      description: 'The image',
      content: {
        'image/png': { schema: { type: 'string', format: 'binary' } },
        'image/webp': { schema: { type: 'string', format: 'binary' } },
      },
    });
  });

  it("passes Redocly's recommended rules", async () => {
    assert.deepEqual(await lint(exampleDocument), []);
  });

  it('takes the upload and the CSV unvalidated, and still validates the JSON form', async () => {
    const boundary = 'example-boundary';
    const form = Buffer.concat([
      Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="a.png"\r\ncontent-type: image/png\r\n\r\n`),
      PNG,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const upload = await example!.inject({
      method: 'PUT',
      url: '/example/1/image',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload: form,
    });
    assert.equal(upload.statusCode, 200, upload.body);
    assert.deepEqual(upload.json(), { bytes: PNG.length });

    const csv = await example!.inject({
      method: 'POST',
      url: '/example/import',
      headers: { 'content-type': 'text/csv' },
      payload: 'sku\nA-1\n',
    });
    assert.equal(csv.statusCode, 200, csv.body);
    assert.equal(csv.headers['content-type'], 'text/csv; charset=utf-8');
    assert.equal(csv.body, 'sku\nA-1\n');

    const json = await example!.inject({ method: 'POST', url: '/example/import', payload: { lines: [{ sku: 5 }] } });
    assert.equal(json.statusCode, 400, json.body);

    const image = await example!.inject({ method: 'GET', url: '/example/image' });
    assert.equal(image.headers['content-type'], 'image/png');
    assert.deepEqual(image.rawPayload, PNG);
  });

  it('generates client types a program can call them with', async () => {
    const program = `
import type { operations } from './example';

export const upload: operations['uploadExampleImage']['requestBody']['content']['multipart/form-data'] = { file: 'bytes' };
export const csv: operations['importExamples']['requestBody']['content']['text/csv'] = 'sku\\nA-1\\n';
export const answer = (body: operations['importExamples']['responses'][200]['content']['text/csv']): string => body;
export const image = (body: operations['getExampleImage']['responses'][200]['content']['image/png']): string => body;
// @ts-expect-error the upload's part is named file
export const misnamed: operations['uploadExampleImage']['requestBody']['content']['multipart/form-data'] = { image: 'bytes' };
`;
    const { ok, output } = await typeCheck({ example: exampleDocument }, program);
    assert.equal(output, '');
    assert.ok(ok);
  });
});
