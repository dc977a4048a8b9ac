import { mkdirSync, openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';

// PGlite has no lock of its own on its data directory, and two processes writing one directory
// corrupt it. A lock file holding the owner's pid keeps a second Stockroom out; a lock left by
// a process that has died (kill -9) is taken over.

export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock on `dataDir` (creating the directory) and returns the function that frees it. */
export function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const lockPath = join(dataDir, 'stockroom.lock');
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const fd = openSync(lockPath, 'wx');
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
      );
    }
    unlinkSync(lockPath); // stale: its process is gone
  }
  throw new DataDirLockedError(`could not lock the data directory ${dataDir}`);
}
