/**
 * The one envelope that flows through every stage: a change to one row of one dataset.
 * Stage 3 serialises it to Debezium's envelope (before, after, source, op, ts_ms).
 */
export type ChangeOp = 'c' | 'u' | 'd' | 'r';

export interface Change<Row = Record<string, unknown>> {
  dataset: string;
  /** c: create, u: update, d: delete, r: read (snapshot). An upsert is 'u'. */
  op: ChangeOp;
  /** The primary-key columns of the row. */
  key: Partial<Row>;
  before?: Row;
  /** The row after the change; absent for deletes. Validated and normalised. */
  after?: Row;
  /** The row's event time (normalised timestamp text): what partitions it in the lake. */
  eventTime: string;
  /** Where the change sits in its log topic; orders versions of a key ("highest wins"). */
  position: bigint;
  /** Where it came from: 'dual-write', 'wal', 'cdc', 'import', … */
  source: string;
  schemaVersion: number;
}
