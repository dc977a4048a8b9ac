import { execFile, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Fixture } from './dataset.ts';
import { httpRequest, type Scenario } from './scenarios.ts';

// HTTP load from wrk (Debian's package), a separate native process: a load generator written in
// JavaScript took a core of this 2-core machine and understated the server's throughput by half.

const SCRIPT = fileURLToPath(new URL('wrk.lua', import.meta.url));
// One thread per core: wrk needs little CPU, and more threads would only take it from the server.
const THREADS = 2;
// Every connection is open before the first request is sent (see delay() in wrk.lua).
const START_PAUSE_MS = 1000;
// Requests drawn in advance and replayed in turn (a Lua script can't call the TypeScript scenarios):
// a run repeats each one a few times at most, and every wrk thread formats them all in a moment.
const REQUESTS_DRAWN = 20_000;

/** Installs wrk from Debian's packages when it is missing (the bench runs as root). */
export function ensureWrk() {
  if (spawnSync('wrk', ['--version']).error === undefined) return;
  const command = 'apt-get update && apt-get install -y wrk';
  console.log(`wrk is missing; running: ${command}`);
  const result = spawnSync('sh', ['-c', command], { stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`"${command}" failed (exit ${result.status}); install wrk and rerun`);
}

export interface WrkJob {
  url: string;
  scenario: Scenario;
  fixture: Fixture;
  /** Sent with every request (where an Authorization header goes). */
  headers: Record<string, string>;
  connections: number;
  seconds: number;
  /** Where to write the request file. */
  requestFile: string;
}

export interface WrkResult {
  requests: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  statuses: Record<string, number>;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
}

export async function runWrk(job: WrkJob): Promise<WrkResult> {
  const lines = Object.entries(job.headers).map(([name, value]) => `header\t${name}\t${value}`);
  for (let i = 0; i < REQUESTS_DRAWN; i += 1) {
    const { method, path, body } = httpRequest(job.scenario, job.fixture);
    lines.push(`request\t${method}\t${path}\t${body ?? ''}`);
  }
  await writeFile(job.requestFile, `${lines.join('\n')}\n`);
  // The timeout is far past the server's own deadline, so that every slow answer is counted with
  // its latency. The run lasts the pause longer, and the rate is counted without it.
  const { stdout } = await promisify(execFile)('wrk', [
    '--threads',
    String(THREADS),
    '--connections',
    String(job.connections),
    '--duration',
    `${job.seconds + START_PAUSE_MS / 1000}s`,
    '--timeout',
    '30s',
    '--script',
    SCRIPT,
    job.url,
    '--',
    job.requestFile,
    String(START_PAUSE_MS),
    String(Math.floor(job.connections / THREADS)),
    job.scenario === 'reserve-fulfil' ? 'chain' : '',
  ]);
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as WrkResult;
  return { ...result, seconds: result.seconds - START_PAUSE_MS / 1000 };
}
