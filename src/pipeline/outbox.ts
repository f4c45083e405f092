import { createHash } from 'node:crypto';
import type pg from 'pg';
import { ident, qualified } from '../hot/sql.ts';

/**
 * The transactional outbox, stage 1's fallback path: when the writer has no log to append to
 * (stage 1 runs in another process, or is stopped), or the log is failing, or older events still
 * wait here, the event of a hot write is inserted into `tierflow_outbox` in the same PostgreSQL
 * transaction as the rows, so either both commit or neither does. A relay moves committed events
 * to the log and deletes them. (The fast path appends to the log directly: commit-receipts.ts.)
 *
 * Order: for one key, outbox ids follow commit order, because the row's lock is taken by the
 * upsert before the outbox row gets its id. Across keys the relay may publish in id order rather
 * than commit order, which the cold side does not depend on.
 */
export const OUTBOX_TABLE = 'tierflow_outbox';
export const OUTBOX_CHANNEL = 'tierflow_outbox';

/** PostgreSQL's identifier limit (NAMEDATALEN - 1): longer channel names are refused by pg_notify. */
const MAX_CHANNEL_BYTES = 63;

/**
 * The NOTIFY channel of a schema's outbox, the one name both the writer (insertOutbox) and the
 * relay (LISTEN) use. `tierflow_outbox_<schema>` when that fits in 63 bytes (the name every
 * earlier version used, so writers and relays of either version still meet); else the readable
 * start of the schema and a hash of the whole name: pg_notify refuses a longer name (the write
 * would fail) and LISTEN would silently truncate it. Two schemas meeting on one channel would
 * only wake each other's relays, which then find nothing to move.
 */
export function outboxChannel(schema: string): string {
  const plain = `${OUTBOX_CHANNEL}_${schema}`;
  if (Buffer.byteLength(plain) <= MAX_CHANNEL_BYTES) return plain;
  const hash = createHash('sha256').update(schema).digest('hex').slice(0, 16);
  const readable = schema.replace(/[^a-z0-9_]/g, '').slice(0, 28);
  return `${OUTBOX_CHANNEL}_${readable}_${hash}`;
}

/**
 * The schema's relay lock, a transaction-scoped advisory lock. The relay holds it exclusively
 * while it moves a batch; a writer on the fast path holds it shared for its whole transaction. So
 * no relay appends while a fast-path transaction is open, and the writer may append its event
 * while it checks the outbox (commit-receipts.ts): nothing can reach the log in between.
 */
export function relayLock(schema: string, mode: 'exclusive' | 'shared'): string {
  // A 32-bit FNV-1a hash of the schema name, with a constant first key for tierflow's locks.
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(`tierflow_outbox_relay:${schema}`))
    hash = Math.imul(hash ^ byte, 0x01000193);
  const fn = mode === 'shared' ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock';
  return `${fn}(${RELAY_LOCK_CLASS}, ${hash | 0})`;
}

/** The first key of the relay lock (an arbitrary constant: "tf" in ASCII). */
const RELAY_LOCK_CLASS = 0x7466;

export function outboxDdl(schema: string): string[] {
  return [
    `CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`,
    `CREATE TABLE IF NOT EXISTS ${qualified(schema, OUTBOX_TABLE)} (
      id bigserial PRIMARY KEY,
      dataset text NOT NULL,
      payload bytea NOT NULL,
      rows integer NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )`,
    // Events live for milliseconds: compressing them costs more than the bytes it saves.
    `ALTER TABLE ${qualified(schema, OUTBOX_TABLE)} ALTER COLUMN payload SET STORAGE EXTERNAL`,
    // Outboxes created before events carried their row count.
    `ALTER TABLE ${qualified(schema, OUTBOX_TABLE)} ADD COLUMN IF NOT EXISTS rows integer NOT NULL DEFAULT 0`,
  ];
}

/** Inside the caller's transaction: the event row, and a wake-up for the relay, sent on commit. */
export async function insertOutbox(
  client: pg.PoolClient,
  schema: string,
  dataset: string,
  payload: Uint8Array,
  rows: number,
): Promise<void> {
  await client.query(
    `INSERT INTO ${qualified(schema, OUTBOX_TABLE)} (dataset, payload, rows) VALUES ($1, $2, $3)`,
    [dataset, Buffer.from(payload), rows],
  );
  await client.query(`SELECT pg_notify($1, '')`, [outboxChannel(schema)]);
}
