import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** fsync of a directory, so a created, renamed or removed entry in it survives a crash. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * mkdir -p that survives power loss: every directory it creates is fsynced into its parent, so
 * files made durable inside it cannot vanish with a directory entry that was never written.
 */
export async function mkdirDurable(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    try {
      await stat(d);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || path.dirname(d) === d) throw error;
      missing.unshift(d);
    }
  }
  if (missing.length === 0) return;
  await mkdir(dir, { recursive: true });
  for (const created of missing) await syncDirectory(path.dirname(created));
}

/**
 * Replaces a file atomically: temp file, fsync, rename, fsync of the directory. Returns after
 * the rename is durable; a failure before the rename leaves the old file and no temp behind.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(temp, data);
    const handle = await open(temp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(path.dirname(file));
}
