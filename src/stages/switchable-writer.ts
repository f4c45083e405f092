import type { Dataset, StorageWriter, WriteOptions, WriteResult } from '../core/index.ts';

/**
 * A StorageWriter whose target can be swapped while writes go on: `pause()` holds new writes at
 * the door and resolves once the writes under way have finished; `resume(writer)` lets them
 * through to the new writer. Nothing is refused during a swap, only delayed.
 */
export class SwitchableWriter implements StorageWriter {
  private inFlight = 0;
  private idle: (() => void)[] = [];
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;

  constructor(private current: StorageWriter) {}

  get kind(): string {
    return this.current.kind;
  }

  upsert(
    dataset: Dataset<unknown, unknown>,
    rows: readonly unknown[],
    options?: WriteOptions,
  ): Promise<WriteResult> {
    return this.through((w) => w.upsert(dataset, rows, options));
  }

  delete(
    dataset: Dataset<unknown, unknown>,
    keys: readonly Readonly<Record<string, unknown>>[],
    options?: WriteOptions,
  ): Promise<WriteResult> {
    return this.through((w) => w.delete(dataset, keys, options));
  }

  private async through(work: (writer: StorageWriter) => Promise<WriteResult>): Promise<WriteResult> {
    while (this.gate) await this.gate;
    this.inFlight++;
    try {
      return await work(this.current);
    } finally {
      if (--this.inFlight === 0) for (const resolve of this.idle.splice(0)) resolve();
    }
  }

  /** Holds new writes; resolves when none is under way any more. */
  async pause(): Promise<void> {
    this.gate ??= new Promise((resolve) => (this.open = resolve));
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  /** Sends writes to `writer` from now on, the held ones first. */
  resume(writer: StorageWriter): void {
    this.current = writer;
    const open = this.open;
    this.gate = undefined;
    this.open = undefined;
    open?.();
  }

  async close(): Promise<void> {
    await this.current.close();
  }
}
