import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { marketData } from '../src/datasets/index.ts';
import { createTableSql } from '../src/hot/ddl.ts';
import { ident } from '../src/hot/sql.ts';
import type { UpsertStrategy } from '../src/hot/upsert.ts';
import { createTierflow } from '../src/index.ts';
import type { BarInput } from './bars.ts';
import { syntheticBars } from './bars.ts';
import type { Figure } from './report.ts';
import { report } from './report.ts';

/**
 * Hot-tier write throughput: 500,000 market_data rows through the repository (fresh keys, then
 * the same keys again with changed values), for each upsert strategy, against a raw COPY of the
 * same rows into an identical table in the same run, with the same batch size.
 */
const ROWS = Number(process.env.BENCH_ROWS ?? 500_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 10_000);
const SYMBOLS = 1_000;

const makeBars = (shift: number): BarInput[] => syntheticBars({ count: ROWS, symbols: SYMBOLS, shift });

const COLUMNS = marketData.columns.map((c) => c.name);

export async function run(): Promise<void> {
  const fresh = makeBars(0);
  const updates = makeBars(1);
  const schemas: string[] = [];
  const tf = await createTierflow({ schema: 'bench_hot_ref', migrate: false });
  const pool = tf.hot.pool;
  const figures: Record<string, Figure> = {};
  const timings: [string, number][] = [];

  const newSchema = async (name: string) => {
    await pool.query(`DROP SCHEMA IF EXISTS ${ident(name)} CASCADE`);
    await pool.query(`CREATE SCHEMA ${ident(name)}`);
    schemas.push(name);
    return name;
  };

  async function rawCopy(label: string): Promise<number> {
    const schema = await newSchema(`bench_raw_${label}`);
    for (const sql of createTableSql(marketData, schema)) await pool.query(sql);
    const target = `${ident(schema)}.${ident(marketData.name)} (${COLUMNS.map(ident).join(', ')})`;
    const started = performance.now();
    for (let offset = 0; offset < ROWS; offset += BATCH) {
      const client = await pool.connect();
      try {
        const batch = fresh.slice(offset, offset + BATCH);
        const text = batch.map((r) => COLUMNS.map((c) => r[c]).join('\t')).join('\n') + '\n';
        await pipeline(Readable.from([text]), client.query(copyFrom(`COPY ${target} FROM STDIN`)));
      } finally {
        client.release();
      }
    }
    return ROWS / ((performance.now() - started) / 1000);
  }

  async function repository(strategy: UpsertStrategy): Promise<{ freshRate: number; updateRate: number }> {
    const schema = await newSchema(`bench_repo_${strategy}`);
    const repo = await createTierflow({ databaseUrl: tf.databaseUrl, schema, upsertStrategy: strategy });
    try {
      const timeWrites = async (rows: BarInput[]) => {
        const started = performance.now();
        for (let offset = 0; offset < ROWS; offset += BATCH) {
          await repo.repositories.marketData.upsert(rows.slice(offset, offset + BATCH) as never);
        }
        return ROWS / ((performance.now() - started) / 1000);
      };
      const freshRate = await timeWrites(fresh);
      const updateRate = await timeWrites(updates);
      const count = await repo.repositories.marketData.count();
      if (count !== ROWS) throw new Error(`expected ${ROWS} rows after ${strategy}, found ${count}`);
      return { freshRate, updateRate };
    } finally {
      await repo.close();
    }
  }

  try {
    console.log(
      `hot benchmark: ${ROWS.toLocaleString()} market_data rows in batches of ${BATCH.toLocaleString()} (${tf.databaseSource} PostgreSQL)`,
    );
    const before = await rawCopy('before');
    timings.push(['raw COPY (first)', before]);
    const copy = await repository('copy');
    const unnest = await repository('unnest');
    const after = await rawCopy('after');
    timings.push(['raw COPY (last)', after]);
    figures.raw_copy_rows_per_s = { value: (before + after) / 2, unit: 'rows/s' };
    figures.repo_copy_fresh_rows_per_s = {
      value: copy.freshRate,
      unit: 'rows/s',
      reference: 'raw_copy_rows_per_s',
    };
    figures.repo_copy_update_rows_per_s = {
      value: copy.updateRate,
      unit: 'rows/s',
      reference: 'raw_copy_rows_per_s',
    };
    figures.repo_unnest_fresh_rows_per_s = {
      value: unnest.freshRate,
      unit: 'rows/s',
      reference: 'raw_copy_rows_per_s',
    };
    figures.repo_unnest_update_rows_per_s = {
      value: unnest.updateRate,
      unit: 'rows/s',
      reference: 'raw_copy_rows_per_s',
    };
    report(
      'hot',
      figures,
      timings.map(
        ([name, v]) =>
          `${name}: ${Math.round(v).toLocaleString()} rows/s (the reference is the mean of both)`,
      ),
    );
  } finally {
    for (const schema of schemas) await pool.query(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`);
    await tf.close();
  }
}
