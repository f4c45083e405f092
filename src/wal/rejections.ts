import type pg from 'pg';
import { qualified } from '../hot/sql.ts';
import type { Position } from '../log/log.ts';

/**
 * Entries a processor moved past without applying them (dead-lettered), recorded with the
 * checkpoint that passes them, so an `ack: 'hot'` writer in any process learns its entry was not
 * applied. Kept a day: a writer waits seconds, not days.
 */
export const REJECTIONS_TABLE = 'tierflow_wal_rejections';

/** Inside the caller's transaction, under the schema's DDL lock (checkpoints.ts). */
export async function ensureRejections(client: pg.PoolClient, schema: string): Promise<void> {
  await client.query(`CREATE TABLE IF NOT EXISTS ${qualified(schema, REJECTIONS_TABLE)} (
    processor text NOT NULL,
    position bigint NOT NULL,
    reason text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (processor, position)
  )`);
}

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
