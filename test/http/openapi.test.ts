import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createHarness, type Harness } from '../support/helpers.ts';

// The web UI's typed client is generated from the OpenAPI document printed by scripts/openapi.ts,
// which builds the app without a database. What it prints must be what the API serves.

let h: Harness;
before(async () => {
  h = await createHarness({}, { jobs: false });
});
after(() => h.close());

describe('scripts/openapi.ts', () => {
  it('prints, with no database to reach, byte for byte the document a running app serves at /openapi.json', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/openapi.ts'], {
      cwd: process.cwd(),
      // Where a database would be looked for is nowhere: a query would fail, not find one.
      env: { ...process.env, DATABASE_URL: 'postgres://nobody@127.0.0.1:9/nothing', STOCKROOM_DATA_DIR: '/nonexistent/stockroom' },
      maxBuffer: 16 * 1024 * 1024,
    });
    const served = await h.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(served.statusCode, 200);
    assert.ok(served.body.length > 0);
    assert.equal(stdout, served.body);
  });
});
