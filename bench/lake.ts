import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Change } from '../src/core/index.ts';
import { validatorFor } from '../src/core/index.ts';
import { marketData } from '../src/datasets/index.ts';
import { lakeTable } from '../src/lake/arrow-table.ts';
import { lakeBatchOf } from '../src/lake/lake-batch.ts';
import { LakeWriter } from '../src/lake/lake-writer.ts';
import { toParquet } from '../src/lake/parquet.ts';
import { syntheticBars } from './bars.ts';
import type { Figure } from './report.ts';
import { report } from './report.ts';
import { benchWorkDir } from './work-dir.ts';

/**
 * Lake ingest: 1,000,000 market_data changes through the LakeWriter (Arrow building, day
 * partitioning, zstd Parquet, fsync, rename, manifest commit) in batches, against parquet-wasm
 * writing the same rows' Arrow table alone, in the same run.
 */
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 100_000);
const SYMBOLS = 500;

function changes(): Change[] {
  const input = syntheticBars({ count: ROWS, symbols: SYMBOLS, seed: 11 });
  const rows = validatorFor(marketData)(input) as Record<string, unknown>[];
  return rows.map((row, i) => ({
    dataset: marketData.name,
    op: 'u',
    key: { symbol: row.symbol, interval: row.interval, bucket_start: row.bucket_start },
    after: row,
    eventTime: row.bucket_start as string,
    position: BigInt(i),
    source: 'bench',
    schemaVersion: marketData.version,
  }));
}

export async function run(): Promise<void> {
  const all = changes();
  const dir = await benchWorkDir('lake');
  const figures: Record<string, Figure> = {};
  try {
    console.log(
      `lake benchmark: ${ROWS.toLocaleString()} market_data rows, lake batches of ${BATCH.toLocaleString()}`,
    );
    // Reference: the Arrow table of the same rows (built untimed), written by parquet-wasm alone.
    const table = lakeTable(marketData, lakeBatchOf(marketData, all), Date.now() * 1000);
    let started = performance.now();
    const bytes = toParquet(table).length;
    figures.parquet_wasm_rows_per_s = {
      value: ROWS / ((performance.now() - started) / 1000),
      unit: 'rows/s',
    };

    const writer = await LakeWriter.open(path.join(dir, 'lake'));
    started = performance.now();
    let files = 0;
    for (let offset = 0; offset < ROWS; offset += BATCH)
      files += (await writer.write(marketData, all.slice(offset, offset + BATCH))).files.length;
    figures.lake_ingest_rows_per_s = {
      value: ROWS / ((performance.now() - started) / 1000),
      unit: 'rows/s',
      reference: 'parquet_wasm_rows_per_s',
    };
    await writer.close();

    const { scanOneDay } = await import('./lake-scan.ts');
    const scan = await scanOneDay(path.join(dir, 'lake'));
    figures.duckdb_latest_one_day_scan_ms = { value: scan.ms, unit: 'ms' };
    figures.duckdb_raw_one_day_scan_ms = { value: scan.rawMs, unit: 'ms' };
    figures.duckdb_latest_vs_raw_scan = {
      value: scan.ms,
      unit: 'ms',
      reference: 'duckdb_raw_one_day_scan_ms',
    };
    report('lake', figures, [
      `reference Parquet: ${(bytes / 1e6).toFixed(1)} MB in one file; the lake wrote ${files} files`,
      `one-day scan: ${scan.rows.toLocaleString()} rows of ${scan.day} in the latest view`,
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
