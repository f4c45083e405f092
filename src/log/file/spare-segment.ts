import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { syncDirectory } from '../../core/durable-fs.ts';

/**
 * A zero-filled file the size of a segment, written and made durable ahead of need, which the
 * topic renames into place as its next segment. Appends into it overwrite blocks that already
 * exist, so their fdatasync flushes data only: no block allocation and no change of file size,
 * hence no ext4 journal commit, which would also wait for every other file's ordered data
 * (PostgreSQL's, the lake's) on the same file system. PostgreSQL preallocates its WAL segments
 * for the same reason.
 */
export const SPARE_NAME = 'next-segment.spare';

const CHUNK_BYTES = 1024 * 1024;
/** Made durable every this many bytes, so the file never holds a burst of dirty pages at once. */
const SYNC_EVERY_BYTES = 4 * CHUNK_BYTES;

export class SpareSegment {
  /** True once the whole file is zero-filled and durable. */
  ready = false;
  /** Filling it failed (reported to onError); the file is gone. */
  failed = false;
  private stopped = false;
  readonly done: Promise<void>;

  private constructor(
    readonly file: string,
    readonly bytes: number,
    onError: (error: unknown) => void,
  ) {
    this.done = this.fill().then(
      () => {
        this.ready = !this.stopped;
      },
      async (error: unknown) => {
        this.failed = true;
        onError(error);
        await rm(this.file, { force: true }).catch(onError);
      },
    );
  }

  /** Starts filling the spare of the topic in `dir`; failures go to `onError` and leave no file. */
  static prepare(dir: string, bytes: number, onError: (error: unknown) => void): SpareSegment {
    return new SpareSegment(path.join(dir, SPARE_NAME), bytes, onError);
  }

  /** Removes a spare left by an earlier process: it may be partly written. */
  static async discardLeftover(dir: string): Promise<void> {
    await rm(path.join(dir, SPARE_NAME), { force: true });
  }

  private async fill(): Promise<void> {
    const zeros = Buffer.alloc(Math.min(CHUNK_BYTES, this.bytes));
    const handle = await open(this.file, 'w');
    try {
      let unsynced = 0;
      for (let at = 0; at < this.bytes && !this.stopped; at += zeros.length) {
        const length = Math.min(zeros.length, this.bytes - at);
        await handle.write(zeros, 0, length, at);
        unsynced += length;
        if (unsynced >= SYNC_EVERY_BYTES) {
          await handle.datasync();
          unsynced = 0;
        }
      }
      await handle.datasync();
    } finally {
      await handle.close();
    }
    if (this.stopped) await rm(this.file, { force: true });
  }

  /**
   * Renames the ready spare to `file` (a new segment) durably; the caller then owns it. Returns
   * its size in bytes.
   */
  async install(file: string): Promise<number> {
    if (!this.ready) throw new Error('the spare segment is not ready');
    this.ready = false;
    await rename(this.file, file);
    await syncDirectory(path.dirname(file));
    return this.bytes;
  }

  /** Stops filling (the log is closing) and removes the unused file. */
  async discard(): Promise<void> {
    this.stopped = true;
    await this.done;
    if (this.ready) {
      this.ready = false;
      await rm(this.file, { force: true });
    }
  }
}
