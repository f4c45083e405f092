import type pg from 'pg';
import { receiptsDdl } from './commit-receipts.ts';
import { outboxDdl } from './outbox.ts';

/** The tables dual-write mode needs beside the datasets: the outbox and the commit receipts. */
export async function ensureStage1Schema(pool: pg.Pool, schema: string): Promise<void> {
  for (const sql of [...outboxDdl(schema), ...receiptsDdl(schema)]) await pool.query(sql);
}
