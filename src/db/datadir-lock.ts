import { chmodSync, closeSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

// PGlite has no lock of its own on its data directory, and two processes writing one directory
// corrupt it. A lock file holding the owner's pid keeps a second Stockroom out; a lock left by
// a process that has died (kill -9) is taken over.
//
// Nor does it keep the directory private, as PostgreSQL does for its own (it refuses to start on
// a data directory that isn't 0700 or 0750). The data directory holds every password hash and
// session secret hash, so it is created 0700, one that others can write is refused, and one that
// others can merely read (made by an earlier version, or by hand) is tightened to 0700. The files
// in it are then made 0600 (restrictDataDirFiles): PGlite copies the data directory that its
// initdb made in memory onto the disk through Emscripten's FS.writeFile, which creates every file
// and then chmods it to 0666 explicitly, so no umask can help; the files PostgreSQL itself creates
// later (relations, WAL) come with its own 0600.

export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
  constructor(
    message: string,
    readonly dataDir: string,
    /** The process holding the directory, when it is known. */
    readonly ownerPid?: number,
  ) {
    super(message);
  }
}

/** The data directory can't be used as it is: its permissions, or what it is. */
export class DataDirPermissionError extends Error {
  override name = 'DataDirPermissionError';
}

const DIRECTORY_MODE = 0o700;
const FILE_MODE = 0o600;
/** Bounds the walk over the directory, which holds about a thousand files when migrated. */
const DATA_DIR_ENTRIES_MAX = 100_000;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`;

/**
 * Creates `dataDir` owner-only if it doesn't exist; refuses it if group or others can write to it;
 * tightens it to 0700 if they can only read or enter it.
 */
function ensurePrivateDirectory(dataDir: string): void {
  const notADirectory = () =>
    new DataDirPermissionError(
      `STOCKROOM_DATA_DIR ${dataDir} is not a directory: point it at a directory, or at a path that doesn't exist yet`,
    );
  try {
    mkdirSync(dataDir, { recursive: true, mode: DIRECTORY_MODE });
  } catch (error) {
    if (['EEXIST', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '')) throw notADirectory();
    throw error;
  }
  const stats = statSync(dataDir); // the directory itself may be reached through a symbolic link
  if (!stats.isDirectory()) throw notADirectory();
  const mode = stats.mode & 0o777;
  if ((mode & 0o022) !== 0) {
    throw new DataDirPermissionError(
      `the data directory ${dataDir} can be written by other users (mode ${octal(mode)}); ` +
        `run \`chmod 700 ${dataDir}\` (it holds password hashes) and start again`,
    );
  }
  if ((mode & 0o077) !== 0) {
    try {
      chmodSync(dataDir, DIRECTORY_MODE);
    } catch {
      throw new DataDirPermissionError(
        `the data directory ${dataDir} can be read by other users (mode ${octal(mode)}) and this process can't change that; ` +
          `run \`chmod 700 ${dataDir}\` as its owner and start again`,
      );
    }
  }
}

/** Takes the lock on `dataDir` (creating the directory, owner-only) and returns the function that frees it. */
export function lockDataDir(dataDir: string): () => void {
  ensurePrivateDirectory(dataDir);
  const lockPath = join(dataDir, 'stockroom.lock');
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const fd = openSync(lockPath, 'wx', FILE_MODE);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          unlinkSync(lockPath);
        } catch {
          // already gone: nothing to free
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number(readFileSync(lockPath, 'utf8').trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
      throw new DataDirLockedError(
        `the data directory ${dataDir} is in use by another Stockroom process (pid ${owner}); ` +
          'stop it first, or point STOCKROOM_DATA_DIR elsewhere',
        dataDir,
        owner,
      );
    }
    unlinkSync(lockPath); // stale: its process is gone
  }
  throw new DataDirLockedError(`could not lock the data directory ${dataDir}`, dataDir);
}

/**
 * Makes every file under `dataDir` 0600 and every directory 0700 (see the top of this file).
 * Symbolic links are left alone, never followed. Runs at every opening: it costs a stat per file
 * (a few milliseconds), and so also tightens a directory an earlier version left readable.
 */
export function restrictDataDirFiles(dataDir: string): void {
  const entries = readdirSync(dataDir, { recursive: true, withFileTypes: true });
  if (entries.length > DATA_DIR_ENTRIES_MAX) return; // not a data directory Stockroom made: leave it be
  for (const entry of entries) {
    if (!entry.isFile() && !entry.isDirectory()) continue;
    const path = join(entry.parentPath, entry.name);
    const wanted = entry.isDirectory() ? DIRECTORY_MODE : FILE_MODE;
    if ((lstatSync(path).mode & 0o777 & ~wanted) === 0) continue;
    try {
      chmodSync(path, wanted);
    } catch (error) {
      throw new DataDirPermissionError(
        `can't make ${path} private (${(error as NodeJS.ErrnoException).code}): the data directory's files must belong to the user that runs Stockroom`,
      );
    }
  }
}
