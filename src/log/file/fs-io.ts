import type { FileHandle } from 'node:fs/promises';

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
