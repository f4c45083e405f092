import type pg from 'pg';
import type { Position } from '../log/log.ts';
import { ident, qualified } from '../hot/sql.ts';

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

/** Inside the caller's transaction. */
export async function saveCheckpoint(
  client: pg.PoolClient,
  schema: string,
  processor: string,
  position: Position,
): Promise<void> {
  await client.query(
    `INSERT INTO ${qualified(schema, CHECKPOINTS_TABLE)} (processor, position) VALUES ($1, $2)
     ON CONFLICT (processor) DO UPDATE SET position = excluded.position, updated_at = now()`,
    [processor, position.toString()],
  );
}
