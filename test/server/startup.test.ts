import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Database } from '../../src/db/database.ts';
import { createPgliteSource } from '../../src/db/pglite.ts';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/helpers.ts';
import { freePort, killServers, startServer } from '../support/server-process.ts';

// What a newcomer meets first, run as they run it: `node bin/stockroom.mjs …` as a child process.
// Every failure is one line on stderr, no stack, a non-zero exit, and nothing half-made.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the command with only `env` (and what node needs): nothing is inherited from this process. */
function stockroom(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/stockroom.mjs', ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? -1), stdout, stderr }),
    );
  });
}

/** Asserts that the run failed with exactly one line on stderr, no stack trace, and gives the line. */
function oneLineFailure(run: Run): string {
  assert.equal(run.code, 2, `exit 2, a failure that stopped the command: ${run.stderr}`);
  const lines = run.stderr.split('\n').filter((line) => line.trim() !== '');
  assert.equal(lines.length, 1, `one line on stderr, got ${JSON.stringify(run.stderr)}`);
  assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
  assert.match(lines[0]!, /^stockroom: /);
  return lines[0]!;
}

async function countUsers(database: TestDatabase): Promise<number> {
  const db =
    database.db.kind === 'pglite'
      ? new Database(await createPgliteSource({ dataDir: database.config.dataDir, acquireTimeoutMs: 5000 }))
      : database.db;
  try {
    return await db.connection(async (conn) => (await conn.query<{ count: number }>('SELECT count(*)::int AS count FROM users'))[0]!.count);
  } finally {
    if (db !== database.db) await db.close();
  }
}

describe('stockroom serve on a busy port', () => {
  let database: TestDatabase;
  let holder: Server;
  let port: number;
  before(async () => {
    database = await createTestDatabase();
    if (database.db.kind === 'pglite') await database.db.close();
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    port = (holder.address() as { port: number }).port;
  });
  after(async () => {
    killServers();
    await new Promise((resolve) => holder.close(resolve));
    await database.destroy();
  });

  // On the embedded database the first start makes a demo admin and prints its password; on a
  // server, the admin STOCKROOM_ADMIN_EMAIL names. Either way, a start that can't listen makes none.
  const firstAdmin = usingPostgres
    ? { STOCKROOM_ADMIN_EMAIL: 'first-admin@example.com', STOCKROOM_ADMIN_PASSWORD: 'a first admin password' }
    : ({} as Record<string, string>);

  it('says in one line which port is busy, what to set (and, embedded, how to reset a lost password), and creates no user', async () => {
    const run = await stockroom(['serve'], { ...database.env, ...firstAdmin, HOST: '127.0.0.1', PORT: String(port) });
    const line = oneLineFailure(run);
    assert.match(line, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`));
    assert.match(line, /set PORT/);
    if (usingPostgres) assert.doesNotMatch(line, /reset-password/, 'no demo admin on a server');
    else assert.match(line, /npm run stockroom -- user reset-password --email admin@stockroom\.local/);
    assert.doesNotMatch(run.stdout, /password:/, 'no demo password printed for a server that never served');
    assert.equal(await countUsers(database), 0);
  });

  it('makes the first admin on the next start, on a free port, and it logs in', async () => {
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (
        value !== undefined &&
        ![
          'DATABASE_URL',
          'STOCKROOM_DATA_DIR',
          'NODE_TEST_CONTEXT',
          'NODE_OPTIONS',
          'STOCKROOM_ADMIN_EMAIL',
          'STOCKROOM_ADMIN_PASSWORD',
        ].includes(name)
      )
        env[name] = value;
    }
    const free = await freePort();
    const child = execFile(process.execPath, ['bin/stockroom.mjs', 'serve'], {
      cwd: ROOT,
      env: { ...env, ...database.env, ...firstAdmin, HOST: '127.0.0.1', PORT: String(free), LOG_LEVEL: 'info' },
    });
    try {
      let stdout = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (chunk: string) => {
          stdout += chunk;
          if (stdout.includes('Stockroom is serving')) resolve();
        });
        child.once('exit', () => reject(new Error(`exited before serving: ${stdout}`)));
      });
      const credentials = usingPostgres
        ? { email: firstAdmin.STOCKROOM_ADMIN_EMAIL, password: firstAdmin.STOCKROOM_ADMIN_PASSWORD }
        : { email: 'admin@stockroom.local', password: /password: (\S+)/.exec(stdout)?.[1] };
      assert.ok(credentials.password !== undefined, `a demo password in ${stdout}`);
      const response = await fetch(`http://127.0.0.1:${free}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(credentials),
      });
      assert.equal(response.status, 200);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });
});

describe('stockroom on a PostgreSQL server it cannot use', () => {
  let closedPort: number;
  before(async () => {
    closedPort = await freePort();
  });

  for (const args of [['serve'], ['migrate'], ['seed', '--demo'], ['user', 'create', '--email', 'a@example.com', '--role', 'admin']]) {
    it(`${args.slice(0, args[0] === 'user' ? 2 : 1).join(' ')}: names the host, port and database and says the connection was refused, in one line, without the password`, async () => {
      const run = await stockroom(args, {
        DATABASE_URL: `postgres://postgres:secret-pw-xyz@127.0.0.1:${closedPort}/stockroom_db`,
        PORT: '0',
      });
      const line = oneLineFailure(run);
      assert.match(line, new RegExp(`"stockroom_db" on 127\\.0\\.0\\.1:${closedPort}`));
      assert.match(line, /connection refused/);
      assert.doesNotMatch(line, /secret-pw-xyz/);
      assert.equal(run.stdout, '');
    });
  }

  it('says that the database does not exist and how to create it, in one line, without the password', async () => {
    const url = new URL(process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test');
    url.pathname = '/no_such_db_xyz';
    url.password = 'secret-pw-xyz';
    const run = await stockroom(['migrate'], { DATABASE_URL: url.toString() });
    const line = oneLineFailure(run);
    assert.match(line, new RegExp(`"no_such_db_xyz" on ${url.hostname.replace(/\./g, '\\.')}:${url.port || 5432}`));
    assert.match(line, /does not exist; create it \(createdb /);
    assert.doesNotMatch(line, /secret-pw-xyz/);
  });
});

describe('the embedded data directory', () => {
  let parent: string;
  let dataDir: string;
  before(async () => {
    parent = await mkdtemp(join(tmpdir(), 'stockroom-datadir-'));
    dataDir = join(parent, 'data');
  });
  after(async () => {
    killServers();
    await rm(parent, { recursive: true, force: true });
  });

  /** Every directory's and file's permission bits under `dir`, as octal strings, with their counts. */
  async function modes(dir: string): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    const note = async (path: string) => {
      const stats = await stat(path);
      const key = `${stats.isDirectory() ? 'dir' : 'file'} ${(stats.mode & 0o777).toString(8)}`;
      counts[key] = (counts[key] ?? 0) + 1;
    };
    await note(dir);
    for (const entry of await readdir(dir, { recursive: true })) await note(join(dir, entry));
    return counts;
  }

  it('is created owner-only: the directories 0700 and the files 0600', async () => {
    const run = await stockroom(['migrate'], { STOCKROOM_DATA_DIR: dataDir });
    assert.equal(run.code, 0, run.stderr);
    const found = await modes(dataDir);
    assert.deepEqual(Object.keys(found).sort(), ['dir 700', 'file 600'], JSON.stringify(found));
    assert.ok(found['file 600']! > 100, JSON.stringify(found));
  });

  it('tightens a directory an earlier version left readable by others, and its files', async () => {
    await chmod(dataDir, 0o755);
    await chmod(join(dataDir, 'PG_VERSION'), 0o666);
    await chmod(join(dataDir, 'base'), 0o755);
    const run = await stockroom(['migrate'], { STOCKROOM_DATA_DIR: dataDir });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(Object.keys(await modes(dataDir)).sort(), ['dir 700', 'file 600']);
  });

  it('is refused in one line saying what to run when others can write to it, and nothing is created in it', async () => {
    const open = join(parent, 'open');
    await mkdir(open);
    await chmod(open, 0o777);
    const run = await stockroom(['serve'], { STOCKROOM_DATA_DIR: open, PORT: '0' });
    const line = oneLineFailure(run);
    assert.match(line, new RegExp(`the data directory ${open} can be written by other users \\(mode 0777\\); run \`chmod 700 ${open}\``));
    assert.deepEqual(await readdir(open), []);
  });

  it('while a server holds it, refuses user create and reset-password in one line saying to stop the server or use the API', async () => {
    const server = await startServer({ env: { STOCKROOM_DATA_DIR: dataDir } });
    await server.started;
    try {
      const create = await stockroom(['user', 'create', '--email', 'x@example.com', '--role', 'admin'], { STOCKROOM_DATA_DIR: dataDir });
      const createLine = oneLineFailure(create);
      assert.match(createLine, /is in use by another Stockroom process \(pid \d+\)/);
      assert.match(
        createLine,
        /stop the server first, or, while it runs, create the user through the API as an admin: POST \/api\/v1\/users$/,
      );
      const reset = await stockroom(['user', 'reset-password', '--email', 'x@example.com'], { STOCKROOM_DATA_DIR: dataDir });
      assert.match(
        oneLineFailure(reset),
        /stop the server first, or, while it runs, have an admin set the password through the API: PATCH \/api\/v1\/users\/\{id\}/,
      );
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  });
});
