import type pg from 'pg';
import { ident, qualified } from '../hot/sql.ts';
import { OUTBOX_TABLE, relayLock } from './outbox.ts';
import type { CommitStatus } from '../cold/cold-storage-consumer.ts';

/**
 * Commit receipts close stage 1's dual-write gap on the fast path. The writer appends a write's
 * event to the log *inside* its hot transaction, after the rows are locked and before COMMIT, and
 * tags it with the transaction's id; the same transaction inserts that id here, while the append
 * is under way. The cold consumer writes an event to the lake only once its transaction is known
 * to have committed:
 *
 *  - a receipt exists → committed (the receipt commits with the rows, or not at all), unless
 *    the append failed and the event went to the outbox instead: the receipt then says
 *    `superseded`, and a copy that reached the log after all (a timed-out append that still
 *    landed) is never written, so the outbox's copy is the only one;
 *  - no receipt, `pg_xact_status` 'in progress' → wait: the commit is a moment away;
 *  - no receipt, 'aborted' (a failed write, or a writer killed before COMMIT) → never written;
 *  - no receipt, 'committed' → its receipt was already cleared after an earlier lake commit;
 *  - no receipt and no status (older than PostgreSQL's commit-log horizon) → it cannot have
 *    committed with its receipt still missing unless the receipt was cleared, which happens only
 *    after the event reached the lake: treated as not to write.
 *
 * A receipt is a few dozen bytes, where the outbox stored the whole event in PostgreSQL.
 */
export const RECEIPTS_TABLE = 'tierflow_commit_receipts';

export function receiptsDdl(schema: string): string[] {
  return [
    `CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`,
    `CREATE TABLE IF NOT EXISTS ${qualified(schema, RECEIPTS_TABLE)} (
      xid xid8 PRIMARY KEY,
      superseded boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now()
    )`,
  ];
}

/**
 * What a fast-path transaction runs with its BEGIN: the schema's relay lock, shared (so no relay
 * appends until this transaction ends), and the transaction id its event is tagged with.
 */
export function fastPathBegin(schema: string): string {
  return `SELECT ${relayLock(schema, 'shared')}, pg_current_xact_id()::text AS xid`;
}

/**
 * Inside the writer's transaction, after its rows are applied, while its event is appended:
 * records the receipt, superseded from the start when the outbox still holds events. Then this
 * event must go to the outbox too, behind them: its copy in the log would overtake an older event
 * of the same key still waiting there. The check runs after the rows are locked, so an outbox
 * event of any of these keys is visible here unless a relay moved it already, and no relay can
 * move one between this check and the append (the relay lock): the two may run at once.
 * Returns whether the receipt is superseded.
 */
export async function insertReceipt(client: pg.PoolClient, schema: string, xid: string): Promise<boolean> {
  const { rows } = await client.query<{ superseded: boolean }>({
    // Prepared once per connection: it runs in every fast-path transaction.
    name: `tierflow-receipt:${schema}`,
    // clock_timestamp(), not the transaction's start: the superseded expiry counts from here.
    text: `INSERT INTO ${qualified(schema, RECEIPTS_TABLE)} (xid, superseded, created_at)
           SELECT $1::xid8, EXISTS (SELECT 1 FROM ${qualified(schema, OUTBOX_TABLE)}), clock_timestamp()
           RETURNING superseded`,
    values: [xid],
  });
  return rows[0]!.superseded;
}

/** Inside the writer's transaction: its append failed, so its event goes through the outbox instead. */
export async function supersedeReceipt(client: pg.PoolClient, schema: string): Promise<void> {
  await client.query(
    `UPDATE ${qualified(schema, RECEIPTS_TABLE)} SET superseded = true, created_at = clock_timestamp()
      WHERE xid = pg_current_xact_id()`,
  );
}

/**
 * A superseded receipt is cleared once the consumer group has committed past events logged this
 * long after the receipt was made: its ghost copy, if the timed-out append landed at all, landed
 * within the append's timeout, far inside this margin (which also absorbs clock skew between
 * PostgreSQL and a log server).
 */
export const SUPERSEDED_MARGIN_MINUTES = 10;

/** The cold consumer's side: what became of the transactions behind a batch of events. */
export class CommitReceipts {
  private readonly table: string;

  constructor(
    private readonly pool: pg.Pool,
    schema: string,
  ) {
    this.table = qualified(schema, RECEIPTS_TABLE);
  }

  async resolve(xids: readonly string[]): Promise<Map<string, CommitStatus>> {
    const statuses = new Map<string, CommitStatus>();
    if (xids.length === 0) return statuses;
    // Two statements, in this order. In one, the receipts are read from the statement's snapshot
    // but pg_xact_status is asked later, row by row: a transaction that commits in between shows
    // no receipt yet a committed status, and a superseded copy would count as committed. Asked
    // first, a committed status means the receipt is visible to the second statement's snapshot.
    const { rows: status } = await this.pool.query<{ xid: string; status: string | null }>(
      `SELECT x AS xid, pg_xact_status(x::xid8) AS status FROM unnest($1::text[]) AS x`,
      [xids],
    );
    const { rows: receipts } = await this.pool.query<{ xid: string; superseded: boolean }>(
      `SELECT xid::text, superseded FROM ${this.table} WHERE xid = ANY($1::text[]::xid8[])`,
      [xids],
    );
    const receipt = new Map(receipts.map((r) => [r.xid, r.superseded]));
    for (const row of status) {
      const superseded = receipt.get(row.xid);
      statuses.set(
        row.xid,
        superseded === true
          ? 'aborted'
          : superseded === false || row.status === 'committed'
            ? 'committed'
            : row.status === 'in progress'
              ? 'pending'
              : 'aborted',
      );
    }
    return statuses;
  }

  /** Clears the receipts of these transactions. */
  async forget(xids: readonly string[]): Promise<void> {
    if (xids.length === 0) return;
    await this.pool.query(`DELETE FROM ${this.table} WHERE xid = ANY($1::text[]::xid8[])`, [xids]);
  }

  /**
   * Clears superseded receipts whose ghost copies (appends that timed out and landed anyway) the
   * consumer group is past: those made SUPERSEDED_MARGIN_MINUTES before `committedLoggedAt`, the
   * log time (ms since the epoch) of the last event the group has committed. Bound to the
   * group's position, not to the clock, so a consumer days behind never meets a ghost copy
   * without its receipt.
   */
  async expireSuperseded(committedLoggedAt: number): Promise<void> {
    await this.pool.query(
      `DELETE FROM ${this.table}
        WHERE superseded
          AND created_at < to_timestamp($1::double precision / 1000) - interval '${SUPERSEDED_MARGIN_MINUTES} minutes'`,
      [committedLoggedAt],
    );
  }

  /**
   * Clears every receipt, superseded or not, made SUPERSEDED_MARGIN_MINUTES before
   * `committedLoggedAt`: for a group whose transactions' events span several partitions, the
   * oldest log time any partition's commit stands at. Until then every part of every transaction
   * finds its receipt, whichever partition it is read from and however far behind.
   */
  async expireBefore(committedLoggedAt: number): Promise<void> {
    await this.pool.query(
      `DELETE FROM ${this.table}
        WHERE created_at < to_timestamp($1::double precision / 1000) - interval '${SUPERSEDED_MARGIN_MINUTES} minutes'`,
      [committedLoggedAt],
    );
  }

  async count(): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${this.table}`);
    return rows[0]!.n;
  }
}
