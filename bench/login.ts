import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { Database } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import { createPgliteSource } from '../src/db/pglite.ts';
import { createFirstAdmin } from '../src/services/users.ts';

// npm run bench:login — does a login with an unknown email take as long as one with a wrong
// password? (If it were faster, timing would tell an attacker which emails have accounts.)
// Alternates the two, BENCH_LOGINS (200) of each, in-process on a fresh embedded database, and
// prints their latency percentiles and ratio. The answers themselves are compared in the tests.

const rounds = Number(process.env.BENCH_LOGINS ?? 200);
const dataDir = await mkdtemp(join(tmpdir(), 'stockroom-bench-login-'));
const config = { ...loadConfig({ LOG_LEVEL: 'silent' }), dataDir, loginMaxAttempts: 1000, loginWindowS: 1 };
const db = new Database(await createPgliteSource({ dataDir, acquireTimeoutMs: 10_000 }));
try {
  await migrate(db);
  const app = await buildApp({ config, db });
  await app.ready();
  await createFirstAdmin({ db, actor: null }, { email: 'admin@bench.test', password: 'the right password' });

  const timings = { 'unknown email': [] as number[], 'wrong password': [] as number[] };
  const answers = new Set<string>();
  const attempt = async (kind: keyof typeof timings, i: number) => {
    const email = kind === 'unknown email' ? `nobody-${i}@bench.test` : 'admin@bench.test';
    const started = performance.now();
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ email, password: 'a wrong password' }),
      remoteAddress: `10.1.${i >> 8}.${i & 255}`,
    });
    timings[kind].push(performance.now() - started);
    answers.add(`${response.statusCode} ${response.body}`);
  };
  for (let i = 0; i < 10; i += 1) await attempt('wrong password', i); // warm-up, not counted
  timings['wrong password'].length = 0;
  for (let i = 0; i < rounds; i += 1) {
    await attempt('unknown email', i);
    await attempt('wrong password', i);
  }
  await app.close();

  const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.floor((p / 100) * (values.length - 1))]!;
  const rows = Object.entries(timings).map(([kind, values]) => ({
    kind,
    p50Ms: Number(percentile(values, 50).toFixed(1)),
    p90Ms: Number(percentile(values, 90).toFixed(1)),
    p99Ms: Number(percentile(values, 99).toFixed(1)),
  }));
  console.table(rows);
  console.log(`p50 ratio unknown email / wrong password: ${(rows[0]!.p50Ms / rows[1]!.p50Ms).toFixed(2)}`);
  console.log(`distinct answers: ${answers.size} (${[...answers][0]})`);
} finally {
  await db.close();
  await rm(dataDir, { recursive: true, force: true });
}
