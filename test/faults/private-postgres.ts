import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFile, chown, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../support/server-process.ts';

// A PostgreSQL cluster of the test's own — a temporary directory, a free port on 127.0.0.1, trust
// authentication — for the faults that stop the whole server: the machine's shared server runs
// other people's tests, so it is never the one stopped.

const BINARIES_ROOT = '/usr/lib/postgresql';
const COMMAND_TIMEOUT_MS = 30_000;
const DIRECTORY_PREFIX = 'stockroom-pg-';

const execFileAsync = promisify(execFile);

/** The newest installed server's bin directory (Debian layout: /usr/lib/postgresql/<major>/bin). */
async function binaries(): Promise<string> {
  const majors = (await readdir(BINARIES_ROOT).catch(() => [] as string[])).filter((name) => /^\d+$/.test(name));
  majors.sort((a, b) => Number(b) - Number(a));
  for (const major of majors) {
    const bin = join(BINARIES_ROOT, major, 'bin');
    const files = await readdir(bin).catch(() => [] as string[]);
    if (files.includes('initdb') && files.includes('pg_ctl')) return bin;
  }
  assert.fail(
    `this test runs a PostgreSQL server of its own and needs its binaries (initdb, pg_ctl) in ${BINARIES_ROOT}/<version>/bin; ` +
      'install the PostgreSQL server package (apt-get install postgresql)',
  );
}

// initdb refuses to run as root: as root, the cluster belongs to the `postgres` user.
const asRoot = process.getuid?.() === 0;

/** Runs a PostgreSQL program as the cluster's owner; a failure says what it printed. */
async function runAsOwner(program: string, args: string[]): Promise<string> {
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', program, ...args]] : [program, args];
  try {
    const { stdout } = await execFileAsync(file, argv, { timeout: COMMAND_TIMEOUT_MS });
    return stdout;
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${program} ${args.join(' ')} failed: ${(error as Error).message}\n${stdout ?? ''}${stderr ?? ''}`, { cause: error });
  }
}

async function ownerIds(): Promise<{ uid: number; gid: number }> {
  const id = async (flag: string) => Number((await execFileAsync('id', [flag, 'postgres'])).stdout.trim());
  return { uid: await id('-u'), gid: await id('-g') };
}

/** Whether a process runs (this module needs Debian's layout anyway, so Linux's /proc is there). */
const isAlive = (pid: number) =>
  stat(`/proc/${pid}`).then(
    () => true,
    () => false,
  );

/** Stops and removes the clusters of test processes that died before their clean-up. */
async function removeClustersOfDeadRuns(bin: string) {
  for (const name of await readdir(tmpdir())) {
    const pid = Number(new RegExp(`^${DIRECTORY_PREFIX}(\\d+)-`).exec(name)?.[1]);
    if (Number.isNaN(pid) || (await isAlive(pid))) continue;
    const directory = join(tmpdir(), name);
    await runAsOwner(join(bin, 'pg_ctl'), ['stop', '-D', join(directory, 'data'), '-m', 'immediate', '-s']).catch(() => undefined);
    await rm(directory, { recursive: true, force: true });
  }
}

export interface PrivateCluster {
  /** Superuser `postgres`, database `postgres`, trust authentication. */
  url: string;
  /** Starts the server (again, on the same port) and waits until it accepts connections. */
  start(): Promise<void>;
  /** Stops the server: `fast` ends every session, `immediate` kills them without a checkpoint. */
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  /** The server's log, for failure messages. */
  log(): Promise<string>;
  /** Stops the server if it runs and removes its directory. */
  destroy(): Promise<void>;
}

/** Creates a cluster with initdb and starts it. */
export async function createPrivateCluster(): Promise<PrivateCluster> {
  const bin = await binaries();
  await removeClustersOfDeadRuns(bin);
  const directory = await mkdtemp(join(tmpdir(), `${DIRECTORY_PREFIX}${process.pid}-`));
  const data = join(directory, 'data');
  const logFile = join(directory, 'server.log');
  const port = await freePort();
  const pgCtl = (args: string[]) => runAsOwner(join(bin, 'pg_ctl'), [...args, '-D', data, '-w', '-t', '20', '-s']);
  const cluster: PrivateCluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start: () => pgCtl(['start', '-l', logFile]).then(() => undefined),
    stop: (mode) => pgCtl(['stop', '-m', mode]).then(() => undefined),
    log: () => readFile(logFile, 'utf8').catch((error: Error) => `(no log: ${error.message})`),
    async destroy() {
      await pgCtl(['stop', '-m', 'immediate']).catch(() => undefined); // it may be stopped already
      await rm(directory, { recursive: true, force: true });
    },
  };
  try {
    if (asRoot) {
      const { uid, gid } = await ownerIds();
      await chown(directory, uid, gid);
    }
    // --no-sync: the cluster lives for one test, and initdb's fsync is most of its time.
    await runAsOwner(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    // Settings the restarts keep: the same port, TCP on loopback only, the socket in the test's directory.
    await appendFile(
      join(data, 'postgresql.conf'),
      `\nport = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${directory}'\nmax_connections = 50\n`,
    );
    await cluster.start();
    return cluster;
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
}
