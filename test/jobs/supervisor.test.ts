import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Supervisor, type Job } from '../../src/jobs/supervisor.ts';

// The supervisor of background jobs (src/jobs/supervisor.ts), with jobs of a few milliseconds.

function recordingLog() {
  const warnings: { details: any; message: string }[] = [];
  return { warnings, warn: (details: object, message: string) => warnings.push({ details, message }) };
}

function job(overrides: Partial<Job> & Pick<Job, 'run'>): Job {
  return { name: 'test', intervalMs: 20, ...overrides };
}

describe('the job supervisor', () => {
  // The supervisor's timers are unref'd (a pending job keeps no process alive): this test keeps
  // its own process alive while it waits for them.
  let keepAlive: NodeJS.Timeout;
  before(() => {
    keepAlive = setInterval(() => undefined, 1000);
  });
  after(() => clearInterval(keepAlive));

  it('runs a job at its interval, the first run one interval after start', async () => {
    const startedAt = Date.now();
    const runs: number[] = [];
    const supervisor = new Supervisor(recordingLog()).add(job({ intervalMs: 30, run: async () => void runs.push(Date.now() - startedAt) }));
    supervisor.start();
    await sleep(200);
    await supervisor.stop();
    assert.ok(runs.length >= 3 && runs.length <= 7, `${runs.length} runs`);
    assert.ok(runs[0]! >= 25, `first run after ${runs[0]} ms`);
    for (let i = 1; i < runs.length; i += 1) assert.ok(runs[i]! - runs[i - 1]! >= 25, `runs ${runs[i - 1]} and ${runs[i]} ms`);
  });

  it('runs a job at once when its first run is due at 0, and adds at most its jitter to a wait', async () => {
    const runs: number[] = [];
    const startedAt = Date.now();
    const supervisor = new Supervisor(recordingLog()).add(
      job({ intervalMs: 1000, jitterMs: 20, firstRunMs: 0, run: async () => void runs.push(Date.now() - startedAt) }),
    );
    supervisor.start();
    await sleep(100);
    await supervisor.stop();
    assert.equal(runs.length, 1);
    assert.ok(runs[0]! < 60, `first run after ${runs[0]} ms`);
  });

  it('never runs two runs of one job at once: the next waits for the end of the last', async () => {
    let inProgress = 0;
    let most = 0;
    let runs = 0;
    const supervisor = new Supervisor(recordingLog()).add(
      job({
        intervalMs: 1,
        run: async () => {
          inProgress += 1;
          most = Math.max(most, inProgress);
          runs += 1;
          await sleep(30);
          inProgress -= 1;
        },
      }),
    );
    supervisor.start();
    await sleep(200);
    await supervisor.stop();
    assert.equal(most, 1);
    assert.ok(runs >= 3, `${runs} runs`);
  });

  it('logs a failing run with the job’s name and retries it, backing off, until it succeeds', async () => {
    const log = recordingLog();
    let attempts = 0;
    let succeeded = false;
    const supervisor = new Supervisor(log).add(
      job({
        name: 'flaky',
        intervalMs: 10,
        run: async () => {
          attempts += 1;
          if (attempts <= 2) throw new Error(`failure ${attempts}`);
          succeeded = true;
        },
      }),
    );
    supervisor.start();
    const deadline = Date.now() + 2000;
    while (!succeeded && Date.now() < deadline) await sleep(5);
    await supervisor.stop();
    assert.ok(succeeded, 'retried until it succeeded');
    assert.deepEqual(
      log.warnings.map(({ details, message }) => [details.job, details.failures, details.err.message, message]),
      [
        ['flaky', 1, 'failure 1', 'job flaky failed; will retry'],
        ['flaky', 2, 'failure 2', 'job flaky failed; will retry'],
      ],
    );
  });

  it('a failure of one job does not stop another', async () => {
    let healthyRuns = 0;
    const supervisor = new Supervisor(recordingLog())
      .add(job({ name: 'broken', intervalMs: 10, run: async () => Promise.reject(new Error('always')) }))
      .add(job({ name: 'healthy', intervalMs: 10, run: async () => void (healthyRuns += 1) }));
    supervisor.start();
    await sleep(100);
    await supervisor.stop();
    assert.ok(healthyRuns >= 3, `${healthyRuns} runs`);
  });

  it('aborts a run in progress on stop, waits for it to end, and logs no failure', async () => {
    const log = recordingLog();
    let running: (() => void) | undefined;
    const started = new Promise<void>((resolve) => (running = resolve));
    let ended = false;
    let sawAbort = false;
    const supervisor = new Supervisor(log).add(
      job({
        firstRunMs: 0,
        run: async (signal) => {
          running!();
          await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
          sawAbort = signal.aborted;
          await sleep(50); // winding down takes a while
          ended = true;
          throw signal.reason; // as an aborted query does
        },
      }),
    );
    supervisor.start();
    await started;
    await supervisor.stop();
    assert.ok(sawAbort && ended, 'stop resolved after the run ended');
    assert.deepEqual(log.warnings, []);
  });

  it('starts nothing after stop: neither a run that was due nor the next run of one in progress', async () => {
    let runs = 0;
    const pending = new Supervisor(recordingLog()).add(job({ intervalMs: 30, run: async () => void (runs += 1) }));
    pending.start();
    await pending.stop();
    await sleep(80);
    assert.equal(runs, 0);

    let inProgress: (() => void) | undefined;
    const started = new Promise<void>((resolve) => (inProgress = resolve));
    const busy = new Supervisor(recordingLog()).add(
      job({
        intervalMs: 1,
        firstRunMs: 0,
        run: async () => {
          runs += 1;
          inProgress!();
          await sleep(30); // ignores the signal: stop still waits for it
        },
      }),
    );
    busy.start();
    await started;
    await busy.stop();
    await sleep(50);
    assert.equal(runs, 1);
  });

  it('refuses two jobs of one name, and jobs added after start', () => {
    const supervisor = new Supervisor(recordingLog()).add(job({ run: async () => undefined }));
    assert.throws(() => supervisor.add(job({ run: async () => undefined })), /one job named test/);
    supervisor.start();
    assert.throws(() => supervisor.add(job({ name: 'late', run: async () => undefined })), /before the supervisor starts/);
    return supervisor.stop();
  });
});
