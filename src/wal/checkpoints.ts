import type pg from 'pg';
import { TierflowError } from '../core/index.ts';
import type { Position } from '../log/log.ts';
import { ident, qualified } from '../hot/sql.ts';
import { inTransaction } from '../hot/transaction.ts';
import { lockSchemaDdl } from '../hot/ddl-lock.ts';
import { ensureRejections } from './rejections.ts';

/**
 * Where each WAL processor that writes to PostgreSQL has got to. The hot processor saves its
 * checkpoint in the same transaction as the rows it applied, so the two can never disagree: after
 * a crash it resumes exactly after the last batch that committed.
 */
export const CHECKPOINTS_TABLE = 'tierflow_wal_checkpoints';

export async function ensureCheckpoints(pool: pg.Pool, schema: string): Promise<void> {
  await inTransaction(pool, async (client) => {
    await lockSchemaDdl(client, schema);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${qualified(schema, CHECKPOINTS_TABLE)} (
      processor text PRIMARY KEY,
      position bigint NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`);
    // Added in 0.2: checked first, so a start takes no table lock once it is there.
    const { rowCount } = await client.query(
      `SELECT 1 FROM information_schema.columns
        WHERE table_schema = $1 AND table_name = $2 AND column_name = 'entry_logged_at'`,
      [schema, CHECKPOINTS_TABLE],
    );
    if (rowCount === 0)
      await client.query(
        `ALTER TABLE ${qualified(schema, CHECKPOINTS_TABLE)} ADD COLUMN IF NOT EXISTS entry_logged_at bigint`,
      );
    await ensureRejections(client, schema);
  });
}

export async function readCheckpoint(
  db: pg.Pool | pg.PoolClient,
  schema: string,
  processor: string,
): Promise<Checkpoint | undefined> {
  // The pool's type parsers give timestamps as text: the time travels as epoch milliseconds.
  const { rows } = await db.query<{
    position: bigint | string;
    updated_ms: number | string;
    entry_logged_at: bigint | string | null;
  }>(
    `SELECT position, (extract(epoch FROM updated_at) * 1000)::float8 AS updated_ms, entry_logged_at
       FROM ${qualified(schema, CHECKPOINTS_TABLE)} WHERE processor = $1`,
    [processor],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    position: BigInt(row.position),
    updatedAt: new Date(Number(row.updated_ms)),
    ...(row.entry_logged_at === null ? {} : { entryLoggedAt: Number(row.entry_logged_at) }),
  };
}

export interface Checkpoint {
  position: Position;
  updatedAt: Date;
  /**
   * The log's time of the entry at `position`: which log the checkpoint was made from. Another log
   * (a process with a WAL of its own, a stream recreated and grown past the position) has another
   * entry there. Absent for checkpoints written before it was kept.
   */
  entryLoggedAt?: number;
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
 * The log holds another entry at the checkpoint's position than the one the checkpoint was made
 * from: this process writes to a log of its own (the file log is one process's; several processes
 * in WAL mode on one schema must share a log), or the log was recreated and has grown past the
 * position. Applying would skip or mix entries of two logs, so the processor stops.
 */
export class WalLogMismatchError extends TierflowError {
  constructor(topic: string, checkpoint: Checkpoint, found: number) {
    super(
      'WAL_LOG_MISMATCH',
      `the hot checkpoint was made from another log: its entry ${checkpoint.position} was logged at ${new Date(checkpoint.entryLoggedAt!).toISOString()}, this log's topic "${topic}" has one logged at ${new Date(found).toISOString()} there (every WAL-mode process on a schema must share one log)`,
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
): Promise<Checkpoint | undefined> {
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
  to: { position: Position; loggedAt: number },
): Promise<void> {
  if (from !== undefined && to.position <= from)
    throw new RangeError(`a checkpoint only moves forward (${from} → ${to.position})`);
  const table = qualified(schema, CHECKPOINTS_TABLE);
  const { rowCount } =
    from === undefined
      ? await client.query(
          `INSERT INTO ${table} (processor, position, entry_logged_at) VALUES ($1, $2, $3)
           ON CONFLICT (processor) DO NOTHING`,
          [processor, to.position.toString(), to.loggedAt],
        )
      : await client.query(
          `UPDATE ${table} SET position = $3, entry_logged_at = $4, updated_at = now()
            WHERE processor = $1 AND position = $2`,
          [processor, from.toString(), to.position.toString(), to.loggedAt],
        );
  if (rowCount === 1) return;
  const found = await readCheckpoint(client, schema, processor);
  throw new CheckpointMovedError(processor, from, found?.position);
}
