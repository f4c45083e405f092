import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import type { Change } from '../../src/core/index.ts';
import { validatorFor } from '../../src/core/index.ts';
import { marketData } from '../../src/datasets/index.ts';
import { compactDataset } from '../../src/lake/compaction.ts';
import { LakeWriter } from '../../src/lake/lake-writer.ts';
import { liveFiles } from '../../src/lake/manifest.ts';

const roots: string[] = [];
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

/** Versions of 10 bars of 2024-03-04: `close` tells the version apart. */
function versions(fromPosition: number, close: number, op: 'u' | 'd' = 'u', count = 10): Change[] {
  const rows = validatorFor(marketData)(
    Array.from({ length: count }, (_, i) => ({
      symbol: `S${i}`,
      interval: '1m',
      bucket_start: '2024-03-04T14:30:00Z',
      open: close,
      high: close,
      low: close,
      close,
      volume: 1,
      source: 'test',
    })),
  ) as Record<string, unknown>[];
  return rows.map((row, i) => ({
    dataset: 'market_data',
    op,
    key: { symbol: row.symbol, interval: row.interval, bucket_start: row.bucket_start },
    after: op === 'd' ? undefined : row,
    eventTime: row.bucket_start as string,
    position: BigInt(fromPosition + i),
    source: 'test',
    schemaVersion: 1,
  }));
}

async function latest(writer: LakeWriter): Promise<string[]> {
  const files = liveFiles(writer.datasetDir('market_data'), await writer.manifest('market_data'));
  const db = await DuckDBInstance.create(':memory:');
  const connection = await db.connect();
  try {
    const rows = await connection.runAndReadAll(
      `SELECT symbol || '=' || close::VARCHAR FROM read_parquet([${files.map((f) => `'${f}'`).join(', ')}], union_by_name = true)
       QUALIFY row_number() OVER (PARTITION BY symbol, interval, bucket_start ORDER BY _position DESC) = 1 AND _op <> 'd' ORDER BY symbol`,
    );
    return rows.getRows().map((r) => String(r[0]));
  } finally {
    connection.closeSync();
  }
}

describe('lake compaction', () => {
  it('merges small files into one per partition, keeps the latest view, retires the old files until the grace passes', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'tierflow-compact-'));
    roots.push(root);
    const writer = await LakeWriter.open(root);
    await writer.write(marketData, versions(0, 1));
    await writer.write(marketData, versions(10, 2));
    await writer.write(marketData, versions(20, 3, 'd', 3));
    const before = await latest(writer);
    expect(before).toEqual([
      'S3=2.000000',
      'S4=2.000000',
      'S5=2.000000',
      'S6=2.000000',
      'S7=2.000000',
      'S8=2.000000',
      'S9=2.000000',
    ]);

    let clock = Date.now();
    const result = await compactDataset(writer, marketData, { now: () => clock, graceMs: 60_000 });
    expect(result.partitions).toEqual([
      {
        partition: '2024-03-04',
        filesBefore: 3,
        rowsBefore: 23,
        rowsAfter: 10,
        file: 'year=2024/month=03/day=04/market_data+00000000000000000000+00000000000000000022.parquet',
      },
    ]);
    const manifest = await writer.manifest('market_data');
    expect(manifest.files).toHaveLength(1);
    expect(manifest.retired).toHaveLength(3);
    expect(await latest(writer)).toEqual(before);
    const partition = path.join(root, 'market_data', 'year=2024', 'month=03', 'day=04');
    expect(await readdir(partition)).toHaveLength(4);

    clock += 61_000;
    expect(
      (await compactDataset(writer, marketData, { now: () => clock, graceMs: 60_000 })).deletedRetired,
    ).toBe(3);
    expect(await readdir(partition)).toEqual([
      'market_data+00000000000000000000+00000000000000000022.parquet',
    ]);
    expect((await writer.manifest('market_data')).retired).toEqual([]);

    await writer.write(marketData, versions(23, 4, 'u', 2));
    await compactDataset(writer, marketData, { now: () => clock, tombstoneRetentionMs: 0 });
    expect(await latest(writer)).toEqual(['S0=4.000000', 'S1=4.000000', ...before]);
    await writer.close();
  });
});
