import type pg from 'pg';
import type { Dataset, DatasetDescription } from '../core/index.ts';
import { MigrationError, describeDataset } from '../core/index.ts';
import { addColumnSql, createTableSql } from './ddl.ts';
import { ident, qualified } from './sql.ts';
import { inTransaction } from './transaction.ts';
import { lockSchemaDdl } from './ddl-lock.ts';

export const MIGRATIONS_TABLE = 'tierflow_migrations';

export interface MigrationOutcome {
  dataset: string;
  version: number;
  action: 'created' | 'evolved' | 'unchanged';
  statements: string[];
}

/**
 * Brings the tables of the given datasets up to their declarations. Idempotent and safe to run
 * from several processes at once (an advisory lock serialises them). Each applied version is
 * recorded with its fingerprint, so a declaration changed without a version bump is refused.
 * Evolution is additive: a newer version may add nullable columns; anything else is refused.
 */
export async function migrate(
  pool: pg.Pool,
  schema: string,
  datasets: readonly Dataset<unknown>[],
): Promise<MigrationOutcome[]> {
  const ledger = qualified(schema, MIGRATIONS_TABLE);
  return inTransaction(pool, async (client) => {
    await lockSchemaDdl(client, schema);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${ledger} (
        dataset text NOT NULL,
        version integer NOT NULL,
        fingerprint text NOT NULL,
        description jsonb NOT NULL,
        statements text[] NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (dataset, version)
      )`,
    );
    const outcomes: MigrationOutcome[] = [];
    for (const dataset of datasets) {
      const description = describeDataset(dataset);
      const { rows } = await client.query<{
        version: number;
        fingerprint: string;
        description: DatasetDescription;
      }>(
        `SELECT version, fingerprint, description FROM ${ledger} WHERE dataset = $1 ORDER BY version DESC LIMIT 1`,
        [dataset.name],
      );
      const latest = rows[0];
      const statements = plan(dataset, schema, description, latest);
      if (statements === 'unchanged') {
        outcomes.push({
          dataset: dataset.name,
          version: dataset.version,
          action: 'unchanged',
          statements: [],
        });
        continue;
      }
      for (const sql of statements) await client.query(sql);
      await client.query(
        `INSERT INTO ${ledger} (dataset, version, fingerprint, description, statements) VALUES ($1, $2, $3, $4, $5)`,
        [dataset.name, dataset.version, description.fingerprint, JSON.stringify(description), statements],
      );
      outcomes.push({
        dataset: dataset.name,
        version: dataset.version,
        action: latest ? 'evolved' : 'created',
        statements,
      });
    }
    return outcomes;
  });
}

function plan(
  dataset: Dataset<unknown>,
  schema: string,
  description: DatasetDescription,
  latest: { version: number; fingerprint: string; description: DatasetDescription } | undefined,
): string[] | 'unchanged' {
  if (!latest) return createTableSql(dataset, schema);
  if (latest.version === dataset.version) {
    if (latest.fingerprint === description.fingerprint) return 'unchanged';
    throw new MigrationError(
      `${dataset.name}: the declaration of version ${dataset.version} differs from the one applied; bump its version`,
    );
  }
  if (latest.version > dataset.version) {
    throw new MigrationError(
      `${dataset.name}: the database holds version ${latest.version}, newer than the declared version ${dataset.version}`,
    );
  }
  const before = new Map(latest.description.columns.map((c) => [c.name, c]));
  const added = [];
  for (const col of description.columns) {
    const old = before.get(col.name);
    if (!old) {
      if (!col.nullable) {
        throw new MigrationError(
          `${dataset.name}: new column "${col.name}" must be nullable so existing rows stay valid`,
        );
      }
      added.push(dataset.columns.find((c) => c.name === col.name)!);
      continue;
    }
    if (old.type !== col.type || old.nullable !== col.nullable) {
      throw new MigrationError(
        `${dataset.name}: column "${col.name}" changed from ${old.type}${old.nullable ? ' null' : ''} to ${col.type}${col.nullable ? ' null' : ''}; only nullable columns may be added`,
      );
    }
    before.delete(col.name);
  }
  if (before.size > 0) {
    throw new MigrationError(
      `${dataset.name}: columns ${[...before.keys()].join(', ')} were removed; only additions are supported`,
    );
  }
  if (latest.description.primaryKey.join(',') !== description.primaryKey.join(',')) {
    throw new MigrationError(`${dataset.name}: the primary key changed`);
  }
  return added.map((col) => addColumnSql(dataset, schema, col));
}
