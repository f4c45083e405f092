import type pg from 'pg';
import { receiptsDdl } from './commit-receipts.ts';
import { outboxDdl } from './outbox.ts';
import { lockSchemaDdl } from '../hot/ddl-lock.ts';
import { inTransaction } from '../hot/transaction.ts';

/** The tables dual-write mode needs beside the datasets: the outbox and the commit receipts. */
export async function ensureStage1Schema(pool: pg.Pool, schema: string): Promise<void> {
  await inTransaction(pool, async (client) => {
    await lockSchemaDdl(client, schema);
    for (const sql of [...outboxDdl(schema), ...receiptsDdl(schema)]) await client.query(sql);
  });
}
