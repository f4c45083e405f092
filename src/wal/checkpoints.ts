import type pg from 'pg';
import { TierflowError } from '../core/index.ts';
import type { Position } from '../log/log.ts';
import { ident, qualified } from '../hot/sql.ts';
import { inTransaction } from '../hot/transaction.ts';

/**
 * Where each WAL processor that writes to PostgreSQL has got to. The hot processor saves its
 * checkpoint in the same transaction as the rows it applied, so the two can never disagree: after
 * a crash it resumes exactly after the last batch that committed.
 */
export const CHECKPOINTS_TABLE = 'tierflow_wal_checkpoints';

export async function ensureCheckpoints(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
  await pool.query(`CREATE TABLE IF NOT EXISTS ${qualified(schema, CHECKPOINTS_TABLE)} (
    processor text PRIMARY KEY,
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
  )`);
  await pool.query(`CREATE TABLE IF NOT EXISTS ${qualified(schema, REJECTIONS_TABLE)} (
    processor text NOT NULL,
    position bigint NOT NULL,
    reason text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (processor, position)
  )`);
}

/**
 * Entries a processor moved past without applying them (dead-lettered), recorded with the
 * checkpoint that passes them, so an `ack: 'hot'` writer in any process learns its entry was not
 * applied. Kept a day: a writer waits seconds, not days.
 */
export const REJECTIONS_TABLE = 'tierflow_wal_rejections';

/** Inside the transaction that moves the checkpoint past the entries. */
export async function recordRejections(
  client: pg.PoolClient,
  schema: string,
  processor: string,
  rejections: readonly { position: Position; message: string }[],
): Promise<void> {
  if (rejections.length === 0) return;
  const table = qualified(schema, REJECTIONS_TABLE);
  await client.query(
    `INSERT INTO ${table} (processor, position, reason)
     SELECT $1, p, r FROM unnest($2::bigint[], $3::text[]) AS x(p, r) ON CONFLICT DO NOTHING`,
    [processor, rejections.map((r) => r.position.toString()), rejections.map((r) => r.message)],
  );
  await client.query(`DELETE FROM ${table} WHERE processor = $1 AND at < now() - interval '1 day'`, [
    processor,
  ]);
}

/** Of these positions, those recorded as not applied, with the reason. */
export async function readRejections(
  db: pg.Pool | pg.PoolClient,
  schema: string,
  processor: string,
  positions: readonly Position[],
): Promise<Map<Position, string>> {
  if (positions.length === 0) return new Map();
  const { rows } = await db.query<{ position: bigint | string; reason: string }>(
    `SELECT position, reason FROM ${qualified(schema, REJECTIONS_TABLE)}
      WHERE processor = $1 AND position = ANY($2::bigint[])`,
    [processor, positions.map((p) => p.toString())],
  );
  return new Map(rows.map((r) => [BigInt(r.position), r.reason]));
}

export async function readCheckpoint(
  db: pg.Pool | pg.PoolClient,
  schema: string,
  processor: string,
): Promise<{ position: Position; updatedAt: Date } | undefined> {
  // The pool's type parsers give timestamps as text: the time travels as epoch milliseconds.
  const { rows } = await db.query<{ position: bigint | string; updated_ms: number | string }>(
    `SELECT position, (extract(epoch FROM updated_at) * 1000)::float8 AS updated_ms
       FROM ${qualified(schema, CHECKPOINTS_TABLE)} WHERE processor = $1`,
    [processor],
  );
  const row = rows[0];
  return row ? { position: BigInt(row.position), updatedAt: new Date(Number(row.updated_ms)) } : undefined;
}

/**
 * The log no longer holds what follows the checkpoint: the topic ends before it (a NATS stream
 * deleted and created again, a log directory restored from an older copy), or its next entry is
 * not the one after it (entries dropped). Applying on would skip acknowledged entries in silence,
 * so the processor stops; an operator decides (replay into a fresh schema, or reset the checkpoint).
 */
export class WalBehindCheckpointError extends TierflowError {
  constructor(topic: string, checkpoint: Position, last: Position | undefined, next?: Position) {
    super(
      'WAL_BEHIND_CHECKPOINT',
      next === undefined
        ? `the hot checkpoint is at ${checkpoint} but topic "${topic}" ends at ${last ?? 'nothing'}: the log was recreated or restored; entries after the checkpoint would be skipped`
        : `the hot checkpoint is at ${checkpoint} but the next entry of topic "${topic}" is ${next}: entries ${checkpoint + 1n}–${next - 1n} are gone from the log`,
    );
  }
}

/**
 * The checkpoint, once durable: the processor commits asynchronously, so a checkpoint just read
 * may be lost in a PostgreSQL crash and move back. A synchronous commit flushes PostgreSQL's WAL
 * through every earlier commit, so whatever was read before it stays. Retention trusts only this.
 */
export async function durableCheckpoint(
  pool: pg.Pool,
  schema: string,
  processor: string,
): Promise<{ position: Position; updatedAt: Date } | undefined> {
  const checkpoint = await readCheckpoint(pool, schema, processor);
  await inTransaction(pool, async (client) => {
    await client.query('SET LOCAL synchronous_commit = on');
    await client.query('SELECT pg_current_xact_id()');
  });
  return checkpoint;
}

/** Another processor moved the checkpoint since this one read it: this one no longer owns the work. */
export class CheckpointMovedError extends TierflowError {
  constructor(processor: string, expected: Position | undefined, found: Position | undefined) {
    super(
      'CHECKPOINT_MOVED',
      `WAL checkpoint "${processor}" is at ${found ?? 'none'}, not at ${expected ?? 'none'} where this processor read from: another processor applied those entries (it resumes from the stored checkpoint)`,
      { retriable: true },
    );
  }
}

/**
 * Moves a checkpoint from `from` (undefined: none yet) to `to`, inside the caller's transaction, and
 * only from there: the row is locked, so of two processors that read from the same checkpoint only
 * the first to commit moves it, and the other's transaction fails with CheckpointMovedError before
 * its rows commit. A checkpoint therefore only moves forward, and no entry is applied after a
 * newer one of the same key was (a row deleted since would come back).
 */
export async function advanceCheckpoint(
  client: pg.PoolClient,
  schema: string,
  processor: string,
  from: Position | undefined,
  to: Position,
): Promise<void> {
  if (from !== undefined && to <= from)
    throw new RangeError(`a checkpoint only moves forward (${from} → ${to})`);
  const table = qualified(schema, CHECKPOINTS_TABLE);
  const { rowCount } =
    from === undefined
      ? await client.query(
          `INSERT INTO ${table} (processor, position) VALUES ($1, $2) ON CONFLICT (processor) DO NOTHING`,
          [processor, to.toString()],
        )
      : await client.query(
          `UPDATE ${table} SET position = $3, updated_at = now() WHERE processor = $1 AND position = $2`,
          [processor, from.toString(), to.toString()],
        );
  if (rowCount === 1) return;
  const found = await readCheckpoint(client, schema, processor);
  throw new CheckpointMovedError(processor, from, found?.position);
}
