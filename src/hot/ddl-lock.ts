import type pg from 'pg';

/**
 * Serialises the DDL of one schema across processes, inside the caller's transaction: several
 * tierflow processes starting at once would otherwise race on `CREATE … IF NOT EXISTS`, which
 * PostgreSQL does not make safe against itself (a duplicate key in pg_type for the loser).
 */
export async function lockSchemaDdl(client: pg.PoolClient, schema: string): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`tierflow:migrate:${schema}`]);
}
