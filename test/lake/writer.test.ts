import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { DirectoryLockedError } from '../../src/core/dir-lock.ts';
import { marketData } from '../../src/datasets/index.ts';
import { canonicalJson } from '../../src/lake/canonical-json.ts';
import { LakeWriteError, LakeWriter } from '../../src/lake/lake-writer.ts';
import { readManifest } from '../../src/lake/manifest.ts';
import { bars } from './fixtures.ts';

const roots: string[] = [];
async function lakeRoot(): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'tierflow-lake-'));
  roots.push(root);
  return root;
}
afterAll(async () => {
  for (const root of roots) {
    await chmod(root, 0o755).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
});

async function query(sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const connection = await db.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    connection.closeSync();
  }
}

describe('lake writer', () => {
  it('writes one file per UTC day, named by position range, committed in the manifest', async () => {
    const root = await lakeRoot();
    const writer = await LakeWriter.open(root);
    const commit = await writer.write(marketData, [
      ...bars(0, 30, '2024-03-04'),
      ...bars(30, 20, '2024-03-05'),
    ]);
    await writer.close();
    expect(commit.files.map((f) => f.path)).toEqual([
      'year=2024/month=03/day=04/market_data+00000000000000000000+00000000000000000029.parquet',
      'year=2024/month=03/day=05/market_data+00000000000000000030+00000000000000000049.parquet',
    ]);
    const manifest = await readManifest(path.join(root, 'market_data'), 'market_data');
    expect(manifest).toMatchObject({ version: 1, lastPosition: '49', schemaVersion: 1 });
    expect(manifest.files.map((f) => [f.rows, f.minEventTime, f.maxEventTime])).toEqual([
      [30, '2024-03-04T00:00:00.000001Z', '2024-03-04T00:29:00.000001Z'],
      [20, '2024-03-05T00:30:00.000001Z', '2024-03-05T00:49:00.000001Z'],
    ]);
    const rows = await query(
      `SELECT day, count(*) AS n, sum(volume)::BIGINT AS volume, min(_position) AS first, any_value(open::VARCHAR) AS open, epoch_us(min(bucket_start)) AS t
       FROM read_parquet('${root}/market_data/**/*.parquet', hive_partitioning = true) GROUP BY day ORDER BY day`,
    );
    expect(rows).toEqual([
      {
        day: '04',
        n: '30',
        volume: String(30 * 100 + 435),
        first: '0',
        open: '10.500000',
        t: String(Date.UTC(2024, 2, 4) * 1000 + 1),
      },
      {
        day: '05',
        n: '20',
        volume: String(20 * 100 + 30 * 20 + 190),
        first: '30',
        open: '10.500000',
        t: String(Date.UTC(2024, 2, 5, 0, 30) * 1000 + 1),
      },
    ]);
  });

  it('adds nothing twice when a batch is replayed, even partly overlapping', async () => {
    const root = await lakeRoot();
    const writer = await LakeWriter.open(root);
    await writer.write(marketData, bars(0, 10));
    const replay = await writer.write(marketData, bars(0, 15));
    expect(replay).toMatchObject({ written: 5, skipped: 10 });
    expect(replay.files[0]!.path).toContain('+00000000000000000010+00000000000000000014.parquet');
    expect(await writer.write(marketData, bars(0, 15))).toMatchObject({ written: 0, skipped: 15, files: [] });
    await writer.close();
    const [{ n, distinct }] = (await query(
      `SELECT count(*) AS n, count(DISTINCT _position) AS distinct FROM read_parquet('${root}/market_data/**/*.parquet')`,
    )) as [{ n: string; distinct: string }];
    expect([n, distinct]).toEqual(['15', '15']);
  });

  it('leaves a consistent lake after a crash between file write and manifest commit', async () => {
    const root = await lakeRoot();
    const writer = await LakeWriter.open(root);
    await writer.write(marketData, bars(0, 10));
    await writer.close();
    // What a crash leaves: a renamed file the manifest never listed, and a temporary file.
    const partition = path.join(root, 'market_data', 'year=2024', 'month=03', 'day=04');
    await writeFile(
      path.join(partition, 'market_data+00000000000000000010+00000000000000000019.parquet'),
      'half',
    );
    await writeFile(
      path.join(partition, '.market_data+00000000000000000010+00000000000000000019.parquet.ab12.tmp'),
      'half',
    );
    const reopened = await LakeWriter.open(root);
    const manifest = await reopened.manifest('market_data');
    expect(manifest.lastPosition).toBe('9');
    expect((await readdir(partition)).sort()).toEqual([
      'market_data+00000000000000000000+00000000000000000009.parquet',
    ]);
    const commit = await reopened.write(marketData, bars(0, 20));
    expect(commit).toMatchObject({ written: 10, skipped: 10 });
    await reopened.close();
    expect((await readdir(partition)).sort()).toEqual([
      'market_data+00000000000000000000+00000000000000000009.parquet',
      'market_data+00000000000000000010+00000000000000000019.parquet',
    ]);
  });

  it('keeps deletes as tombstones with the key and event time only', async () => {
    const root = await lakeRoot();
    const writer = await LakeWriter.open(root);
    const [upsert] = bars(0, 1);
    await writer.write(marketData, [upsert!, { ...upsert!, op: 'd', after: undefined, position: 1n }]);
    await writer.close();
    const rows = await query(
      `SELECT _op, symbol, close, volume FROM read_parquet('${root}/market_data/**/*.parquet') ORDER BY _position`,
    );
    expect(rows).toEqual([
      { _op: 'u', symbol: 'S0', close: '10.250000', volume: '100' },
      { _op: 'd', symbol: 'S0', close: null, volume: null },
    ]);
  });

  it('refuses out-of-order positions and changes of another dataset, writing nothing', async () => {
    const root = await lakeRoot();
    const writer = await LakeWriter.open(root);
    const batch = bars(0, 5);
    [batch[2], batch[3]] = [batch[3]!, batch[2]!];
    await expect(writer.write(marketData, batch)).rejects.toThrow(
      /row 3, field "position": positions must increase/,
    );
    await expect(writer.write(marketData, [{ ...bars(0, 1)[0]!, dataset: 'trades' }])).rejects.toThrow(
      /change of "trades"/,
    );
    await writer.close();
    expect(await readdir(root)).toEqual(['LOCK'].filter(() => false));
  });

  it('gives a typed error for a lake directory that cannot be written, and one writer per lake', async () => {
    const root = await lakeRoot();
    const writer = await LakeWriter.open(root);
    await expect(LakeWriter.open(root)).rejects.toBeInstanceOf(DirectoryLockedError);
    await writer.write(marketData, bars(0, 3));
    // A path component that is a file: the write below it fails, as on an unwritable disk.
    const blocked = path.join(root, 'market_data', 'year=2024', 'month=03', 'day=05');
    await writeFile(blocked, 'in the way');
    const error = await writer.write(marketData, bars(3, 3, '2024-03-05')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LakeWriteError);
    expect((error as Error).message).toMatch(/market_data: writing the lake failed/);
    expect((await writer.manifest('market_data')).lastPosition).toBe('2');
    await rm(blocked);
    expect(await writer.write(marketData, bars(3, 3, '2024-03-05'))).toMatchObject({ written: 3 });
    await writer.close();
    await writeFile(path.join(root, 'not-a-directory'), '');
    await expect(LakeWriter.open(path.join(root, 'not-a-directory', 'lake'))).rejects.toMatchObject({
      code: 'LAKE_WRITE',
      message: expect.stringContaining('cannot create the lake directory'),
    });
  });
});

describe('lake writer on a full disk', () => {
  it('fails with a retriable typed error, commits nothing, leaves no partial file, and writes once space returns', async (ctx) => {
    const mountPoint = await lakeRoot();
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mountPoint], { stdio: 'ignore' });
    } catch {
      ctx.skip(); // no permission to mount a tmpfs here
    }
    try {
      const writer = await LakeWriter.open(mountPoint);
      await writer.write(marketData, bars(0, 10));
      await writeFile(path.join(mountPoint, 'filler'), Buffer.alloc(200 * 1024));
      let failure: unknown;
      let next = 10;
      for (let i = 0; i < 200 && !failure; i++, next += 2000) {
        failure = await writer.write(marketData, bars(next, 2000)).then(
          () => undefined,
          (e: unknown) => e,
        );
      }
      expect(failure).toBeInstanceOf(LakeWriteError);
      expect((failure as LakeWriteError).retriable).toBe(true);
      const manifest = await writer.manifest('market_data');
      const committed = new Set(manifest.files.map((f) => path.basename(f.path)));
      const onDisk = (await readdir(path.join(mountPoint, 'market_data'), { recursive: true })).filter((f) =>
        f.endsWith('.parquet'),
      );
      expect(onDisk.map((f) => path.basename(f)).filter((f) => !committed.has(f))).toEqual([]);
      await rm(path.join(mountPoint, 'filler'));
      const last = BigInt(manifest.lastPosition!);
      const commit = await writer.write(marketData, bars(Number(last) + 1, 10));
      expect(commit.written).toBe(10);
      await writer.close();
    } finally {
      execFileSync('umount', [mountPoint]);
    }
  });
});

describe('canonical JSON', () => {
  it('prints what PostgreSQL prints for jsonb', () => {
    expect(canonicalJson({ bb: 1, a: [1, 'x', null, { z: true, yy: 2.5 }], ccc: {} })).toBe(
      '{"a": [1, "x", null, {"z": true, "yy": 2.5}], "bb": 1, "ccc": {}}',
    );
  });
});
