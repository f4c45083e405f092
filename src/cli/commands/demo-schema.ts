import type pg from 'pg';
import { TierflowError } from '../../core/index.ts';
import { ident, qualified } from '../../hot/sql.ts';
import { inTransaction } from '../../hot/transaction.ts';

/** The table that marks a schema as the demo's: the demo drops only schemas that hold it. */
export const DEMO_MARKER_TABLE = 'tierflow_demo_marker';

/** The schema exists and the demo did not create it: the demo refuses to drop it. */
export class DemoSchemaNotOursError extends TierflowError {
  readonly schema: string;
  constructor(schema: string) {
    super(
      'DEMO_SCHEMA_NOT_OURS',
      `schema "${schema}" exists and was not created by tierflow demo (it has no ${DEMO_MARKER_TABLE} table): the demo resets its schema on every run and will not drop this one; choose another with --schema, or drop it yourself if it is a leftover of an older demo`,
    );
    this.schema = schema;
  }
}

/**
 * Gives the demo an empty schema of its own: drops the schema if an earlier demo run created it
 * (it holds the marker table), creates it with the marker, and refuses (DemoSchemaNotOursError)
 * a schema that exists without the marker, whatever its name, leaving it untouched. One
 * transaction, so no other session sees the schema half reset.
 */
export async function resetDemoSchema(pool: pg.Pool, schema: string): Promise<void> {
  await inTransaction(pool, async (client) => {
    // Two demos on one schema take turns instead of failing on each other's DDL.
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`tierflow demo ${schema}`]);
    const { rows } = await client.query<{ exists: boolean; marked: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS exists,
              EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2) AS marked`,
      [schema, DEMO_MARKER_TABLE],
    );
    const { exists, marked } = rows[0]!;
    if (exists && !marked) throw new DemoSchemaNotOursError(schema);
    if (exists) await client.query(`DROP SCHEMA ${ident(schema)} CASCADE`);
    await client.query(`CREATE SCHEMA ${ident(schema)}`);
    const marker = qualified(schema, DEMO_MARKER_TABLE);
    await client.query(
      `CREATE TABLE ${marker} (created_at timestamptz NOT NULL DEFAULT now(), note text NOT NULL)`,
    );
    await client.query(`INSERT INTO ${marker} (note) VALUES ($1)`, [
      'created by tierflow demo, which drops and recreates this schema on every run',
    ]);
  });
}
