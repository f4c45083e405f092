import type { Dataset } from './dataset.ts';

export interface WriteOptions {
  /**
   * One sequence per row. When given, a row never overwrites a stored row with a higher
   * sequence (the stages that number their changes, such as the WAL, pass theirs here).
   */
  sequences?: readonly bigint[];
  signal?: AbortSignal;
}

export interface WriteResult {
  dataset: string;
  /** Rows in the request, after collapsing duplicates of one key. */
  rows: number;
  /** Rows the hot tier inserted, changed or deleted; rows equal to what is stored are not counted. */
  applied: number;
}

/**
 * The one door every write goes through. Repositories hold a StorageWriter and know nothing of
 * how many tiers stand behind it: the hot-only writer, the dual writer and the WAL writer all
 * implement this. Implementations validate the whole batch first and write all or nothing.
 */
export interface StorageWriter {
  readonly kind: string;
  upsert(
    dataset: Dataset<unknown, unknown>,
    rows: readonly unknown[],
    options?: WriteOptions,
  ): Promise<WriteResult>;
  /** Deletes by primary key; each key names every primary-key column. */
  delete(
    dataset: Dataset<unknown, unknown>,
    keys: readonly Readonly<Record<string, unknown>>[],
    options?: WriteOptions,
  ): Promise<WriteResult>;
  close(): Promise<void>;
}
