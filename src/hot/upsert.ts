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
  /** Validated, normalised rows. The same key may occur more than once; see collapseDuplicates. */
  rows: readonly Record<string, unknown>[];
  /** Aligned with rows; null where the caller gave no sequence. */
  sequences: readonly (bigint | null)[];
  /**
   * The same rows already in COPY text, every column then the sequence (the WAL's fast path,
   * wal/entry-copy-text.ts): the plain COPY sends it as it is, and `rows` is read only if the
   * batch needs the upsert after all.
   */
  copyText?: readonly Uint8Array[];
}

export function preparedBatch(
  rows: readonly Record<string, unknown>[],
  sequences?: readonly (bigint | null | undefined)[],
): PreparedBatch {
  return { rows, sequences: sequences ? rows.map((_, i) => sequences[i] ?? null) : rows.map(() => null) };
}

interface Statements {
  columns: string[];
  target: string;
  /** `INSERT INTO target AS t (columns)`; a source and optionally the conflict clause follow. */
  insert: string;
  conflictClause: string;
  /** The primary key, for DISTINCT ON. */
  key: string;
  unnestSource: string;
}

const cache = new WeakMap<Dataset<unknown>, Map<string, Statements>>();

function statements(dataset: Dataset<unknown>, schema: string): Statements {
  let bySchema = cache.get(dataset);
  if (!bySchema) cache.set(dataset, (bySchema = new Map()));
  const cached = bySchema.get(schema);
  if (cached) return cached;

  const target = qualified(schema, dataset.name);
  const columns = [...dataset.columns.map((c) => c.name), SEQ_COLUMN].map(ident);
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
  const result: Statements = {
    columns,
    target,
    insert: `INSERT INTO ${target} AS t (${columns.join(', ')})`,
    conflictClause,
    key: dataset.primaryKey.map(ident).join(', '),
    unnestSource: `unnest(${casts.map((cast, i) => `$${i + 1}::${cast}`).join(', ')}) WITH ORDINALITY AS s(${[...columns, ORDINAL].join(', ')})`,
  };
  bySchema.set(schema, result);
  return result;
}

/** The position of a row in its batch, carried through staging so the last duplicate can win. */
const ORDINAL = '_tf_ord';
const UNIQUE_VIOLATION = '23505';
const CARDINALITY_VIOLATION = '21000';

/**
 * Most batches of market data carry new keys. INSERT … ON CONFLICT pays for a speculative
 * insertion per row even then, and a staging table costs a second write, so each batch first
 * tries the plain path under a savepoint (COPY straight into the table, or a plain INSERT),
 * which a unique violation rolls back. After a conflict the plain path is skipped for the next
 * batches of that table, so a stream of updates does not pay for failed attempts.
 * bench/hot.ts shows what each path costs.
 */
const SKIP_AFTER_CONFLICT = 16;
const recentConflicts = new Map<string, number>();

function tryPlainPath(table: string): boolean {
  const skip = recentConflicts.get(table) ?? 0;
  if (skip > 0) recentConflicts.set(table, skip - 1);
  return skip === 0;
}

/** Runs `work` under a savepoint; an error with SQLSTATE `accept` rolls back to it and yields undefined. */
async function underSavepoint<T>(
  client: pg.PoolClient,
  accept: string,
  work: () => Promise<T>,
): Promise<T | undefined> {
  await client.query('SAVEPOINT tierflow_attempt');
  try {
    const result = await work();
    await client.query('RELEASE SAVEPOINT tierflow_attempt');
    return result;
  } catch (error) {
    if ((error as { code?: string }).code !== accept) throw error;
    await client.query('ROLLBACK TO SAVEPOINT tierflow_attempt');
    return undefined;
  }
}

async function plainWrite(
  client: pg.PoolClient,
  statement: Statements,
  work: () => Promise<number>,
): Promise<number | undefined> {
  if (!tryPlainPath(statement.target)) return undefined;
  const written = await underSavepoint(client, UNIQUE_VIOLATION, work);
  if (written === undefined) recentConflicts.set(statement.target, SKIP_AFTER_CONFLICT);
  return written;
}

/**
 * INSERT … ON CONFLICT DO UPDATE from `from` (a staging table or an unnest aliased `s`, with
 * ORDINAL). If the batch holds a key twice, ON CONFLICT refuses to touch a row twice; then the
 * batch is collapsed with DISTINCT ON the key, keeping the highest sequence, then the last row.
 * Duplicates are rare, so they are handled when the database reports them rather than searched
 * for in every batch.
 */
async function upsertFrom(
  client: pg.PoolClient,
  statement: Statements,
  from: string,
  params?: unknown[],
): Promise<number> {
  const { insert, columns, conflictClause, key } = statement;
  const select = `SELECT ${columns.map((c) => `s.${c}`).join(', ')} FROM ${from}`;
  const upserted = await underSavepoint(client, CARDINALITY_VIOLATION, async () => {
    return (await client.query(`${insert} ${select} ${conflictClause}`, params)).rowCount ?? 0;
  });
  if (upserted !== undefined) return upserted;
  const distinct =
    `SELECT DISTINCT ON (${key}) ${columns.join(', ')} ` +
    `FROM (SELECT s.${ident(ORDINAL)}, ${select.slice('SELECT '.length)}) d ` +
    `ORDER BY ${key}, ${ident(SEQ_COLUMN)} DESC NULLS LAST, ${ident(ORDINAL)} DESC`;
  return (await client.query(`${insert} ${distinct} ${conflictClause}`, params)).rowCount ?? 0;
}

/** Applies a prepared batch inside the caller's transaction; returns the rows inserted or changed. */
export async function applyUpsert(
  client: pg.PoolClient,
  schema: string,
  dataset: Dataset<unknown>,
  batch: PreparedBatch,
  strategy: UpsertStrategy,
  /** Told when the rows have been sent, so the caller can work while PostgreSQL applies them. */
  sent?: () => void,
): Promise<number> {
  if (!batch.copyText && batch.rows.length === 0) return 0;
  return strategy === 'copy'
    ? upsertByCopy(client, schema, dataset, batch, sent)
    : upsertByUnnest(client, schema, dataset, batch, sent);
}

async function upsertByUnnest(
  client: pg.PoolClient,
  schema: string,
  dataset: Dataset<unknown>,
  batch: PreparedBatch,
  sent?: () => void,
): Promise<number> {
  const statement = statements(dataset, schema);
  const plain = `${statement.insert} SELECT ${statement.columns.map((c) => `s.${c}`).join(', ')} FROM ${statement.unnestSource}`;
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
    const inserted = await plainWrite(client, statement, async () => {
      const inserting = client.query(plain, params);
      sent?.();
      return (await inserting).rowCount ?? 0;
    });
    applied += inserted ?? (await upsertFrom(client, statement, statement.unnestSource, params));
  }
  return applied;
}

/**
 * Rows per text chunk pushed into the COPY stream: each chunk is built in one go, so this bounds
 * how long a large batch holds the event loop (about 2 ms for 1,000 market-data rows).
 */
const COPY_CHUNK_ROWS = 1_000;

/**
 * COPY text of a batch, in chunks, optionally with each row's ordinal as a last column; `sent` is
 * called once the last chunk has been taken.
 */
export function* copyText(
  dataset: Dataset<unknown>,
  batch: PreparedBatch,
  withOrdinal: boolean,
  sent?: () => void,
): Generator<string> {
  const encoders = dataset.columns.map((col) => ({ name: col.name, encode: copyEncoder(col) }));
  const { rows, sequences } = batch;
  for (let start = 0; start < rows.length; start += COPY_CHUNK_ROWS) {
    let text = '';
    const end = Math.min(rows.length, start + COPY_CHUNK_ROWS);
    for (let i = start; i < end; i++) {
      const row = rows[i]!;
      let line = '';
      for (const { name, encode } of encoders) line += `${encode(row[name])}\t`;
      const seq = sequences[i];
      line += seq === null || seq === undefined ? '\\N' : String(seq);
      text += withOrdinal ? `${line}\t${i}\n` : `${line}\n`;
    }
    yield text;
  }
  sent?.();
}

async function copyInto(
  client: pg.PoolClient,
  table: string,
  columns: string,
  text: Iterable<string | Uint8Array>,
): Promise<number> {
  const stream = client.query(copyFrom(`COPY ${table} (${columns}) FROM STDIN`));
  await pipeline(Readable.from(text), stream);
  return stream.rowCount ?? 0;
}

async function upsertByCopy(
  client: pg.PoolClient,
  schema: string,
  dataset: Dataset<unknown>,
  batch: PreparedBatch,
  sent?: () => void,
): Promise<number> {
  const statement = statements(dataset, schema);
  const { columns, target } = statement;
  const text = batch.copyText;
  const copied = await plainWrite(client, statement, () => {
    if (!text) return copyInto(client, target, columns.join(', '), copyText(dataset, batch, false, sent));
    sent?.();
    return copyInto(client, target, columns.join(', '), text);
  });
  if (copied !== undefined) return copied;
  const stage = ident(`tf_stage_${dataset.name}`);
  await client.query(
    `CREATE TEMP TABLE ${stage} (LIKE ${target} INCLUDING DEFAULTS, ${ident(ORDINAL)} integer) ON COMMIT DROP`,
  );
  await copyInto(
    client,
    stage,
    [...columns, ident(ORDINAL)].join(', '),
    copyText(dataset, batch, true, sent),
  );
  const applied = await upsertFrom(client, statement, `${stage} AS s`);
  await client.query(`DROP TABLE ${stage}`);
  return applied;
}
