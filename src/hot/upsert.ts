import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Dataset } from '../core/index.ts';
import { SEQ_COLUMN, UPDATED_AT_COLUMN, pgArrayElementType } from './ddl.ts';
import { arrayLiteral, copyEncoder } from './encode.ts';
import { ident, qualified } from './sql.ts';

/**
 * How a batch reaches its table. Both are one transaction per batch and give the same result:
 * - `unnest`: one INSERT … SELECT FROM unnest($1::type[], …) ON CONFLICT per chunk, the columns
 *   sent as array parameters;
 * - `copy`: COPY into a temporary staging table, then one INSERT … SELECT … ON CONFLICT.
 * bench/hot.ts measures both against a raw COPY; the faster is the default (see README).
 */
export type UpsertStrategy = 'unnest' | 'copy';

export const DEFAULT_UPSERT_STRATEGY: UpsertStrategy = 'copy';

/** Rows per statement for `unnest`: large enough to amortise round trips, small enough for memory. */
const UNNEST_CHUNK = 5_000;

export interface PreparedBatch {
  rows: readonly Record<string, unknown>[];
  /** Aligned with rows; null where the caller gave no sequence. */
  sequences: readonly (bigint | null)[];
}

/**
 * Collapses rows with the same primary key, keeping the one with the highest sequence (the last
 * one on ties): ON CONFLICT cannot touch a row twice in one statement, and the last word wins.
 */
export function collapseByKey(
  dataset: Dataset<unknown>,
  rows: readonly Record<string, unknown>[],
  sequences?: readonly (bigint | null | undefined)[],
): PreparedBatch {
  const seqs = rows.map((_, i) => sequences?.[i] ?? null);
  const keys = dataset.primaryKey;
  const index = new Map<string, number>();
  let duplicates = false;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    let key = '';
    for (const k of keys) key += `${String(row[k])}\u0001`;
    const previous = index.get(key);
    if (previous === undefined) {
      index.set(key, i);
      continue;
    }
    duplicates = true;
    const a = seqs[previous];
    const b = seqs[i];
    if (a === null || a === undefined || b === null || b === undefined || b >= a) index.set(key, i);
  }
  if (!duplicates) return { rows, sequences: seqs };
  const kept = [...index.values()].sort((x, y) => x - y);
  return { rows: kept.map((i) => rows[i]!), sequences: kept.map((i) => seqs[i]!) };
}

interface Statements {
  columns: string[];
  conflictClause: string;
  unnestSql: string;
  target: string;
}

const cache = new WeakMap<Dataset<unknown>, Map<string, Statements>>();

function statements(dataset: Dataset<unknown>, schema: string): Statements {
  let bySchema = cache.get(dataset);
  if (!bySchema) cache.set(dataset, (bySchema = new Map()));
  const cached = bySchema.get(schema);
  if (cached) return cached;

  const target = qualified(schema, dataset.name);
  const names = [...dataset.columns.map((c) => c.name), SEQ_COLUMN];
  const columns = names.map(ident);
  const updatable = dataset.columns
    .filter((c) => !dataset.primaryKey.includes(c.name))
    .map((c) => ident(c.name));
  updatable.push(ident(SEQ_COLUMN));
  const assignments = updatable.map((c) => `${c} = EXCLUDED.${c}`);
  assignments.push(`${ident(UPDATED_AT_COLUMN)} = now()`);
  const seq = ident(SEQ_COLUMN);
  // The guard: a change with a lower sequence than the stored row's never overwrites it; an
  // identical row (same values and sequence) is not rewritten, which keeps re-imports free of bloat.
  const conflictClause =
    `ON CONFLICT (${dataset.primaryKey.map(ident).join(', ')}) DO UPDATE SET ${assignments.join(', ')} ` +
    `WHERE (t.${seq} IS NULL OR EXCLUDED.${seq} IS NULL OR t.${seq} <= EXCLUDED.${seq}) ` +
    `AND (${updatable.map((c) => `t.${c}`).join(', ')}) IS DISTINCT FROM (${updatable.map((c) => `EXCLUDED.${c}`).join(', ')})`;
  const casts = [...dataset.columns.map((c) => `${pgArrayElementType(c)}[]`), 'bigint[]'];
  const unnestSql =
    `INSERT INTO ${target} AS t (${columns.join(', ')}) ` +
    `SELECT * FROM unnest(${casts.map((cast, i) => `$${i + 1}::${cast}`).join(', ')}) ${conflictClause}`;
  const result = { columns, conflictClause, unnestSql, target };
  bySchema.set(schema, result);
  return result;
}

/** Applies a prepared batch inside the caller's transaction; returns the rows inserted or changed. */
export async function applyUpsert(
  client: pg.PoolClient,
  schema: string,
  dataset: Dataset<unknown>,
  batch: PreparedBatch,
  strategy: UpsertStrategy,
): Promise<number> {
  if (batch.rows.length === 0) return 0;
  return strategy === 'copy'
    ? upsertByCopy(client, schema, dataset, batch)
    : upsertByUnnest(client, schema, dataset, batch);
}

async function upsertByUnnest(
  client: pg.PoolClient,
  schema: string,
  dataset: Dataset<unknown>,
  batch: PreparedBatch,
): Promise<number> {
  const { unnestSql } = statements(dataset, schema);
  let applied = 0;
  for (let start = 0; start < batch.rows.length; start += UNNEST_CHUNK) {
    const rows = batch.rows.slice(start, start + UNNEST_CHUNK);
    const params = dataset.columns.map((col) =>
      arrayLiteral(
        col,
        rows.map((r) => r[col.name]),
      ),
    );
    params.push(
      arrayLiteral(
        { name: SEQ_COLUMN, kind: 'int64', nullable: true },
        batch.sequences.slice(start, start + UNNEST_CHUNK),
      ),
    );
    const result = await client.query(unnestSql, params);
    applied += result.rowCount ?? 0;
  }
  return applied;
}

/** Rows per text chunk pushed into the COPY stream. */
const COPY_CHUNK_ROWS = 2_000;

async function upsertByCopy(
  client: pg.PoolClient,
  schema: string,
  dataset: Dataset<unknown>,
  batch: PreparedBatch,
): Promise<number> {
  const { columns, conflictClause, target } = statements(dataset, schema);
  const stage = ident(`tf_stage_${dataset.name}`);
  await client.query(`CREATE TEMP TABLE ${stage} (LIKE ${target} INCLUDING DEFAULTS) ON COMMIT DROP`);
  const encoders = dataset.columns.map((col) => ({ name: col.name, encode: copyEncoder(col) }));
  const { rows, sequences } = batch;
  function* chunks(): Generator<string> {
    for (let start = 0; start < rows.length; start += COPY_CHUNK_ROWS) {
      let text = '';
      const end = Math.min(rows.length, start + COPY_CHUNK_ROWS);
      for (let i = start; i < end; i++) {
        const row = rows[i]!;
        let line = '';
        for (const { name, encode } of encoders) line += `${encode(row[name])}\t`;
        const seq = sequences[i];
        text += `${line}${seq === null || seq === undefined ? '\\N' : String(seq)}\n`;
      }
      yield text;
    }
  }
  const copy = client.query(copyFrom(`COPY ${stage} (${columns.join(', ')}) FROM STDIN`));
  await pipeline(Readable.from(chunks()), copy);
  const result = await client.query(
    `INSERT INTO ${target} AS t (${columns.join(', ')}) SELECT ${columns.join(', ')} FROM ${stage} ${conflictClause}`,
  );
  await client.query(`DROP TABLE ${stage}`);
  return result.rowCount ?? 0;
}
