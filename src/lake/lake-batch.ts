import type { Change, ChangeOp, Dataset } from '../core/index.ts';
import { ValidationError } from '../core/index.ts';

/**
 * A batch of changes to one dataset, column by column: what the lake writer turns into Parquet.
 * `values[column][i]` is row i's value of that column; a delete carries only its key and event
 * time, its other columns are null. Sources that decode columns (the event sink) fill it without
 * building an object per row; `lakeBatchOf` turns Change envelopes into one.
 */
export interface LakeBatch {
  readonly length: number;
  readonly values: Readonly<Record<string, readonly unknown[]>>;
  readonly ops: readonly ChangeOp[];
  readonly positions: readonly bigint[];
  readonly eventTimes: readonly string[];
  readonly schemaVersions: readonly number[];
}

/** Fills a LakeBatch of one dataset, a run of rows at a time. */
export class LakeBatchBuilder {
  private readonly values: Record<string, unknown[]> = {};
  private readonly ops: ChangeOp[] = [];
  private readonly positions: bigint[] = [];
  private readonly eventTimes: string[] = [];
  private readonly schemaVersions: number[] = [];
  private readonly keys: ReadonlySet<string>;

  constructor(private readonly dataset: Dataset<unknown, unknown>) {
    for (const col of dataset.columns) this.values[col.name] = [];
    this.keys = new Set(dataset.primaryKey);
  }

  get length(): number {
    return this.ops.length;
  }

  /**
   * Adds `count` rows given column by column (`columns[c]` holds `values[c]`), numbered
   * `firstPosition`, `firstPosition + 1`, …. Columns the dataset does not declare are ignored;
   * columns missing here are null. Deletes keep only the key and the event time.
   */
  addColumns(run: {
    op: ChangeOp;
    columns: readonly string[];
    values: readonly (readonly unknown[])[];
    count: number;
    firstPosition: bigint;
    eventTimes: readonly string[];
    schemaVersion: number;
  }): void {
    const { op, count } = run;
    const given = new Map(run.columns.map((name, c) => [name, run.values[c]!]));
    const remove = op === 'd';
    for (const col of this.dataset.columns) {
      const target = this.values[col.name]!;
      const source =
        remove && col.name === this.dataset.eventTime
          ? run.eventTimes
          : remove && !this.keys.has(col.name)
            ? undefined
            : given.get(col.name);
      if (source) for (let i = 0; i < count; i++) target.push(source[i]);
      else for (let i = 0; i < count; i++) target.push(null);
    }
    for (let i = 0; i < count; i++) {
      this.ops.push(op);
      this.positions.push(run.firstPosition + BigInt(i));
      this.eventTimes.push(run.eventTimes[i]!);
      this.schemaVersions.push(run.schemaVersion);
    }
  }

  build(): LakeBatch {
    return {
      length: this.ops.length,
      values: this.values,
      ops: this.ops,
      positions: this.positions,
      eventTimes: this.eventTimes,
      schemaVersions: this.schemaVersions,
    };
  }
}

/** Change envelopes of one dataset as a LakeBatch; a change of another dataset is refused. */
export function lakeBatchOf(dataset: Dataset<unknown, unknown>, changes: readonly Change[]): LakeBatch {
  changes.forEach((c, i) => {
    if (c.dataset !== dataset.name)
      throw new ValidationError(
        dataset.name,
        i,
        'dataset',
        `change of "${c.dataset}" in a batch of ${dataset.name}`,
      );
  });
  const values: Record<string, unknown[]> = {};
  for (const col of dataset.columns) {
    const isKey = dataset.primaryKey.includes(col.name);
    const isTime = col.name === dataset.eventTime;
    values[col.name] = changes.map((c) => {
      if (c.op !== 'd') return c.after![col.name];
      if (isKey) return c.key[col.name];
      return isTime ? c.eventTime : null;
    });
  }
  return {
    length: changes.length,
    values,
    ops: changes.map((c) => c.op),
    positions: changes.map((c) => c.position),
    eventTimes: changes.map((c) => c.eventTime),
    schemaVersions: changes.map((c) => c.schemaVersion),
  };
}

/** The rows of `batch` at `indices`, in that order. */
export function takeRows(batch: LakeBatch, indices: readonly number[]): LakeBatch {
  if (indices.length === batch.length && indices.every((index, i) => index === i)) return batch;
  const pick = <T>(list: readonly T[]) => indices.map((i) => list[i]!);
  const values: Record<string, unknown[]> = {};
  for (const [name, list] of Object.entries(batch.values)) values[name] = indices.map((i) => list[i]);
  return {
    length: indices.length,
    values,
    ops: pick(batch.ops),
    positions: pick(batch.positions),
    eventTimes: pick(batch.eventTimes),
    schemaVersions: pick(batch.schemaVersions),
  };
}
