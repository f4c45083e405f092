import { randomBytes } from 'node:crypto';
import { link, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { TierflowError } from './errors.ts';

/** Another live process holds the directory. */
export class DirectoryLockedError extends TierflowError {
  constructor(dir: string, holder: string) {
    super('DIRECTORY_LOCKED', `${dir} is in use by another writer (${holder})`);
  }
}

/** Lock files this process holds: a lock naming our own pid but not in here is left from before a restart. */
const held = new Set<string>();

/**
 * One writer per directory (the embedded log, the lake), on one machine; or, with a lock file name
 * of its own per part (the lake's scopes: `LOCK+p3`), one writer per part of a directory. The
 * lock file names its owner's pid; it is written whole under a private name and linked into
 * place, so no process ever reads it half written. A lock whose owner is gone (kill -9, a restarted container) is moved
 * aside and checked to be the one judged stale before it is removed, so two processes taking
 * over at once cannot both win.
 */
export async function acquireLock(dir: string, name = 'LOCK'): Promise<() => Promise<void>> {
  if (name.length === 0 || name !== path.basename(name) || name.startsWith('.'))
    throw new TypeError(`acquireLock: "${name}" is not a plain file name`);
  const file = path.join(dir, name);
  const what = name === 'LOCK' ? dir : path.join(dir, name);
  if (held.has(file)) throw new DirectoryLockedError(what, 'this process has it open already');
  const token = randomBytes(6).toString('hex');
  const me = JSON.stringify({ pid: process.pid, host: hostname(), token });
  for (let attempt = 0; attempt < 5; attempt++) {
    const temp = `${file}.${token}`;
    await writeFile(temp, me);
    try {
      await link(temp, file);
      held.add(file);
      return () => release(file, me);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      await rm(temp, { force: true });
    }
    const content = await readIfExists(file);
    if (content === undefined) continue; // released meanwhile
    const holder = parse(content);
    if (holder && holder.host === hostname() && holder.pid !== process.pid && isAlive(holder.pid)) {
      throw new DirectoryLockedError(what, `pid ${holder.pid}`);
    }
    const aside = `${file}.stale-${token}`;
    try {
      await rename(file, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    if ((await readFile(aside, 'utf8')) !== content) {
      // Not the lock judged stale: a new owner's. Put it back, unless yet another one exists.
      await link(aside, file).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      });
    }
    await rm(aside, { force: true });
  }
  throw new DirectoryLockedError(what, 'other processes keep taking the lock');
}

async function release(file: string, me: string): Promise<void> {
  held.delete(file);
  if ((await readIfExists(file)) === me) await rm(file, { force: true });
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function parse(content: string): { pid: number; host: string } | undefined {
  try {
    return JSON.parse(content) as { pid: number; host: string };
  } catch {
    return undefined; // linked whole, so unreadable means not ours at all: treat as stale
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
