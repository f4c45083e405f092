import { DuckDBInstance } from '@duckdb/node-api';
import { marketData } from '../src/datasets/index.ts';
import { liveFiles, readManifest } from '../src/lake/manifest.ts';
import path from 'node:path';

/**
 * DuckDB time of a one-day scan of market_data's latest view (merge on read: highest position
 * per key), beside the same day's raw rows without the merge, in the same process.
 */
export async function scanOneDay(
  root: string,
): Promise<{ ms: number; rawMs: number; rows: number; day: string }> {
  const dir = path.join(root, marketData.name);
  const manifest = await readManifest(dir, marketData.name);
  const day = manifest.files[0]!.partition;
  const files = liveFiles(dir, manifest).filter((_, i) => manifest.files[i]!.partition === day);
  const list = files.map((f) => `'${f.replaceAll("'", "''")}'`).join(', ');
  const source = `read_parquet([${list}], hive_partitioning = true, union_by_name = true)`;
  const key = marketData.primaryKey.join(', ');
  const db = await DuckDBInstance.create(':memory:');
  const connection = await db.connect();
  try {
    const time = async (sql: string) => {
      const started = performance.now();
      const result = await connection.runAndReadAll(sql);
      return { ms: performance.now() - started, value: Number(result.getRows()[0]![0]) };
    };
    const raw = await time(`SELECT count(*) FROM ${source} WHERE volume >= 0`);
    const latest = await time(
      `SELECT count(*) FROM (SELECT * FROM ${source} QUALIFY row_number() OVER (PARTITION BY ${key} ORDER BY _position DESC) = 1) WHERE _op <> 'd' AND volume >= 0`,
    );
    return { ms: latest.ms, rawMs: raw.ms, rows: latest.value, day };
  } finally {
    connection.closeSync();
  }
}
