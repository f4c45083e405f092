import { readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { TierflowError } from './errors.ts';

/** Another live process holds the directory. */
export class DirectoryLockedError extends TierflowError {
  constructor(dir: string, holder: string) {
    super('DIRECTORY_LOCKED', `${dir} is in use by another writer (${holder})`);
  }
}

/**
 * One writer per log directory. The lock file holds the owner's pid and host; a lock left by a
 * process that no longer runs (kill -9) is taken over, a live owner's is refused.
 */
export async function acquireLock(dir: string): Promise<() => Promise<void>> {
  const file = path.join(dir, 'LOCK');
  const me = JSON.stringify({ pid: process.pid, host: hostname() });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(file, me, { flag: 'wx' });
      return async () => {
        await rm(file, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder: { pid: number; host: string } | undefined;
    try {
      holder = JSON.parse(await readFile(file, 'utf8')) as { pid: number; host: string };
    } catch {
      holder = undefined; // unreadable or half-written: written by a writer that died mid-write
    }
    if (holder && holder.host === hostname() && holder.pid !== process.pid && isAlive(holder.pid)) {
      throw new DirectoryLockedError(dir, `pid ${holder.pid}`);
    }
    if (holder && holder.host !== hostname())
      throw new DirectoryLockedError(dir, `pid ${holder.pid} on ${holder.host}`);
    if (holder?.pid === process.pid) throw new DirectoryLockedError(dir, 'this process has it open already');
    await rm(file, { force: true });
  }
  throw new DirectoryLockedError(dir, 'another process keeps taking the lock');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
