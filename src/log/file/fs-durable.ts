import type { FileHandle } from 'node:fs/promises';
import { open, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The file-system calls whose failures matter for durability, behind one small interface so the
 * fault tests can make them fail (a full disk, a failing fsync) without a special file system.
 */
export interface DurableIO {
  write(handle: FileHandle, buffers: readonly Buffer[], position: number): Promise<number>;
  datasync(handle: FileHandle): Promise<void>;
}

export const nodeIO: DurableIO = {
  async write(handle, buffers, position) {
    let written = 0;
    let pending = buffers.slice();
    while (pending.length > 0) {
      const { bytesWritten } = await handle.writev(pending, position + written);
      written += bytesWritten;
      pending = advance(pending, bytesWritten);
    }
    return written;
  },
  datasync: (handle) => handle.datasync(),
};

/** Drops `bytes` from the front of a buffer list (writev may write partially). */
function advance(buffers: Buffer[], bytes: number): Buffer[] {
  let rest = bytes;
  const out: Buffer[] = [];
  for (const b of buffers) {
    if (rest >= b.length) rest -= b.length;
    else {
      out.push(rest > 0 ? b.subarray(rest) : b);
      rest = 0;
    }
  }
  return out;
}

/** fsync of a directory, so a created, renamed or removed entry in it survives a crash. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Replaces a file atomically: temp file, fsync, rename, fsync of the directory. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const temp = `${file}.tmp-${process.pid}`;
  await writeFile(temp, data);
  const handle = await open(temp, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  await syncDirectory(path.dirname(file));
}
