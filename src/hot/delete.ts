import type pg from 'pg';
import type { Dataset } from '../core/index.ts';
import { SEQ_COLUMN, pgArrayElementType } from './ddl.ts';
import { arrayLiteral } from './encode.ts';
import { ident, qualified } from './sql.ts';
import type { PreparedBatch } from './upsert.ts';

/**
 * Deletes rows by normalised keys inside the caller's transaction, honouring the sequence guard:
 * a key whose row carries a newer sequence than the delete's is left alone. Returns the keys of
 * the rows it deleted, in their normalised forms.
 */
export async function applyDelete(
  client: pg.PoolClient,
  schema: string,
  dataset: Dataset<unknown, unknown>,
  keys: PreparedBatch,
  /** Told when the statement has been sent, so the caller can work while PostgreSQL runs it. */
  sent?: () => void,
): Promise<Record<string, unknown>[]> {
  if (keys.rows.length === 0) return [];
  const keyCols = dataset.primaryKey.map((name) => dataset.columns.find((c) => c.name === name)!);
  const seq = ident(SEQ_COLUMN);
  const sql =
    `DELETE FROM ${qualified(schema, dataset.name)} AS t ` +
    `USING unnest(${keyCols.map((c, i) => `$${i + 1}::${pgArrayElementType(c)}[]`).join(', ')}, $${keyCols.length + 1}::bigint[]) ` +
    `AS k(${[...keyCols.map((c) => ident(c.name)), seq].join(', ')}) ` +
    `WHERE ${keyCols.map((c) => `t.${ident(c.name)} = k.${ident(c.name)}`).join(' AND ')} ` +
    `AND (t.${seq} IS NULL OR k.${seq} IS NULL OR t.${seq} <= k.${seq}) ` +
    `RETURNING ${keyCols.map((c) => `t.${ident(c.name)}`).join(', ')}`;
  const params = keyCols.map((c) =>
    arrayLiteral(
      c,
      keys.rows.map((k) => k[c.name]),
    ),
  );
  params.push(arrayLiteral({ name: SEQ_COLUMN, kind: 'int64', nullable: true }, keys.sequences));
  const deleting = client.query<Record<string, unknown>>(sql, params);
  sent?.();
  return (await deleting).rows;
}
