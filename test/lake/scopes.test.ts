import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import fc from 'fast-check';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { registerLake } from '../../src/cli/commands/lake.ts';
import { registerLakeCompact } from '../../src/cli/commands/lake-compact.ts';
import { LakeEventSink } from '../../src/cold/event-sink.ts';
import { DirectoryLockedError } from '../../src/core/dir-lock.ts';
import type { Change } from '../../src/core/index.ts';
import { allDatasets, findDataset, marketData } from '../../src/datasets/index.ts';
import { encodeEvent } from '../../src/events/data-written-event.ts';
import { prepareUpsert } from '../../src/hot/hot-only-writer.ts';
import { compactDataset } from '../../src/lake/compaction.ts';
import { openLakeQuery } from '../../src/lake/duckdb-lake.ts';
import { lakeFileName, parseLakeFileName, scopeOfLakeFile } from '../../src/lake/file-name.ts';
import { LakeWriter } from '../../src/lake/lake-writer.ts';
import {
  manifestFileName,
  parseManifestFileName,
  readAllManifests,
  readManifest,
} from '../../src/lake/manifest.ts';
import { runThenKill } from '../support/kill-child.ts';
import { bars } from './fixtures.ts';

const CHILD = fileURLToPath(new URL('./scope-writer-child.ts', import.meta.url));
const roots: string[] = [];
async function lakeRoot(): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'tierflow-lake-scopes-'));
  roots.push(root);
  return root;
}
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

/** Every row version in the live files of every scope, and the latest view, through the reader. */
async function read(root: string): Promise<{ history: number; distinct: number; latest: number }> {
  await using lake = await openLakeQuery(root, allDatasets);
  const [h] = await lake.query(
    `SELECT count(*)::INTEGER AS n, count(DISTINCT (symbol, bucket_start, _position))::INTEGER AS d FROM market_data_history`,
  );
  const [l] = await lake.query(`SELECT count(*)::INTEGER AS n FROM market_data`);
  return { history: Number(h!.n), distinct: Number(h!.d), latest: Number(l!.n) };
}

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true }))
    .filter((f) => f.endsWith('.parquet') || f.endsWith('.tmp'))
    .map((f) => path.basename(f))
    .sort();
}

const DAY4 = path.join('market_data', 'year=2024', 'month=03', 'day=04');

describe('lake file and manifest names per scope', () => {
  it('round-trips every dataset, scope and position range, and scope 0 keeps the names of before', () => {
    const dataset = fc.stringMatching(/^[a-z][a-z0-9_]{0,20}$/);
    const position = fc.bigInt({ min: 0n, max: 10n ** 20n - 1n });
    const scope = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 31 - 1 }));
    fc.assert(
      fc.property(dataset, position, position, scope, (name, first, last, partition) => {
        const file = lakeFileName(name, first, last, partition);
        expect(parseLakeFileName(file)).toEqual({ dataset: name, partition, first, last });
        expect(scopeOfLakeFile(file)).toBe(partition);
        expect(scopeOfLakeFile(`.${file}.0a1b2c3d.tmp`)).toBe(partition);
        expect(parseManifestFileName(manifestFileName(partition))).toBe(partition);
        if (partition === 0) {
          expect(file).toBe(
            `${name}+${String(first).padStart(20, '0')}+${String(last).padStart(20, '0')}.parquet`,
          );
          expect(manifestFileName(partition)).toBe('_manifest.json');
        } else expect(file.startsWith(`${name}+p${partition}+`)).toBe(true);
      }),
    );
  });

  it('parses no name that is not exactly one scope', () => {
    for (const name of [
      'market_data+p0+00000000000000000001+00000000000000000002.parquet',
      'market_data+p01+00000000000000000001+00000000000000000002.parquet',
      'market_data+p2147483648+00000000000000000001+00000000000000000002.parquet',
      'market_data+p+00000000000000000001+00000000000000000002.parquet',
      'market_data+3+00000000000000000001+00000000000000000002.parquet',
      'market_data+00000000000000000001.parquet',
    ])
      expect(parseLakeFileName(name)).toBeUndefined();
    for (const name of [
      '_manifest+p0.json',
      '_manifest+p01.json',
      '_manifest.json.tmp-1-ab',
      '_manifest+p3.json.tmp-1-ab',
    ])
      expect(parseManifestFileName(name)).toBeUndefined();
    expect(() => lakeFileName('x', 0n, 0n, -1)).not.toThrow(); // names are built from checked scopes
  });

  it('refuses a scope that is not a partition number', async () => {
    const root = await lakeRoot();
    for (const partition of [-1, 1.5, 2 ** 31, Number.NaN])
      await expect(LakeWriter.open(root, { partition })).rejects.toMatchObject({ code: 'CONFIG' });
  });
});

describe('lake writers of several scopes', () => {
  it('write side by side, each with its own lock, manifest and names; readers union them', async () => {
    const root = await lakeRoot();
    const one = await LakeWriter.open(root, { partition: 1 });
    const two = await LakeWriter.open(root, { partition: 2 });
    await expect(LakeWriter.open(root, { partition: 1 })).rejects.toBeInstanceOf(DirectoryLockedError);
    expect((await readdir(root)).sort()).toEqual(['LOCK+p1', 'LOCK+p2']);
    // The same offsets in both scopes: each partition numbers by its own.
    const writes: Promise<unknown>[] = [];
    for (let b = 0; b < 10; b++) {
      writes.push(one.write(marketData, bars(b * 10, 10, '2024-03-04')));
      writes.push(two.write(marketData, bars(b * 10, 10, '2024-03-05')));
    }
    await Promise.all(writes);
    // A replayed batch adds nothing to its scope.
    expect(await two.write(marketData, bars(40, 30, '2024-03-05'))).toMatchObject({
      written: 0,
      skipped: 30,
    });
    expect(await one.write(marketData, bars(90, 15, '2024-03-04'))).toMatchObject({
      written: 5,
      skipped: 10,
    });
    await Promise.all([one.close(), two.close()]);

    const dir = path.join(root, 'market_data');
    expect((await readdir(dir)).filter((f) => f.startsWith('_')).sort()).toEqual([
      '_manifest+p1.json',
      '_manifest+p2.json',
    ]);
    const m1 = await readManifest(dir, 'market_data', 1);
    const m2 = await readManifest(dir, 'market_data', 2);
    expect([m1.partition, m1.lastPosition, m1.files.length]).toEqual([1, '104', 11]);
    expect([m2.partition, m2.lastPosition, m2.files.length]).toEqual([2, '99', 10]);
    expect(m1.files[0]!.path).toBe(
      'year=2024/month=03/day=04/market_data+p1+00000000000000000000+00000000000000000009.parquet',
    );
    await expect(readManifest(dir, 'market_data', 3)).resolves.toMatchObject({ version: 0, partition: 3 });
    expect(await read(root)).toEqual({ history: 205, distinct: 205, latest: 205 });
    expect((await readAllManifests(dir, 'market_data')).map((m) => m.partition ?? 0)).toEqual([0, 1, 2]);
  });

  it('keeps a lake of one writer (scope 0) byte for byte as before, and readable beside new scopes', async () => {
    const root = await lakeRoot();
    const old = await LakeWriter.open(root); // the call every writer made before scopes
    await old.write(marketData, bars(0, 20));
    await old.write(marketData, [
      ...bars(20, 10),
      { ...bars(5, 1)[0]!, op: 'd', after: undefined, position: 30n },
    ]);
    await old.close();
    const dir = path.join(root, 'market_data');
    const manifestText = await readFile(path.join(dir, '_manifest.json'), 'utf8');
    const manifest = JSON.parse(manifestText) as Record<string, unknown>;
    expect(Object.keys(manifest)).toEqual([
      'format',
      'dataset',
      'version',
      'schemaVersion',
      'lastPosition',
      'files',
      'retired',
    ]);
    expect(await readdir(dir)).toContain('_manifest.json');
    expect(await filesUnder(root)).toEqual([
      'market_data+00000000000000000000+00000000000000000019.parquet',
      'market_data+00000000000000000020+00000000000000000030.parquet',
    ]);
    const before = await read(root);
    expect(before).toEqual({ history: 31, distinct: 31, latest: 29 });

    // partition 0 is the same writer: it resumes the old manifest and skips what it holds.
    const zero = await LakeWriter.open(root, { partition: 0 });
    expect(await zero.write(marketData, bars(0, 31))).toMatchObject({ written: 0, skipped: 31 });
    // A new scope beside it, on another day's keys, leaves scope 0's files and manifest alone.
    const three = await LakeWriter.open(root, { partition: 3 });
    await three.write(marketData, bars(0, 5, '2024-03-06'));
    await Promise.all([zero.close(), three.close()]);
    expect(await readFile(path.join(dir, '_manifest.json'), 'utf8')).toBe(manifestText);
    expect(await read(root)).toEqual({ history: 36, distinct: 36, latest: 34 });
    await using lake = await openLakeQuery(root, allDatasets);
    expect(lake.manifest('market_data')?.files).toHaveLength(2);
    expect(lake.manifests('market_data')?.map((m) => m.files.length)).toEqual([2, 1]);
  });

  it("recovers a scope without touching another scope's files, committed or in flight", async () => {
    const root = await lakeRoot();
    const writers = await Promise.all([1, 2].map((partition) => LakeWriter.open(root, { partition })));
    await writers[0]!.write(marketData, bars(0, 10));
    await writers[1]!.write(marketData, bars(100, 10));
    await Promise.all(writers.map((w) => w.close()));
    const partition = path.join(root, DAY4);
    // What crashes (or writes in flight) leave: a renamed file no manifest lists, and a temporary
    // file, for scopes 1, 2 and 0, and an old-style name of no scope.
    const strays = [
      'market_data+p1+00000000000000000010+00000000000000000019.parquet',
      '.market_data+p1+00000000000000000010+00000000000000000019.parquet.ab12cd34.tmp',
      'market_data+p2+00000000000000000110+00000000000000000119.parquet',
      '.market_data+p2+00000000000000000110+00000000000000000119.parquet.ab12cd34.tmp',
      'market_data+00000000000000000010+00000000000000000019.parquet',
      '.market_data+00000000000000000010+00000000000000000019.parquet.ab12cd34.tmp',
      'junk.parquet',
    ];
    for (const name of strays) await writeFile(path.join(partition, name), 'in flight');
    const committed = [
      'market_data+p1+00000000000000000000+00000000000000000009.parquet',
      'market_data+p2+00000000000000000100+00000000000000000109.parquet',
    ];

    const one = await LakeWriter.open(root, { partition: 1 });
    expect((await one.manifest('market_data')).lastPosition).toBe('9');
    expect(await filesUnder(root)).toEqual([...committed, ...strays.slice(2)].sort());
    // Scope 0 removes its own leftovers and names of no scope, as every writer did before scopes.
    const zero = await LakeWriter.open(root);
    await zero.manifest('market_data');
    expect(await filesUnder(root)).toEqual([...committed, ...strays.slice(2, 4)].sort());
    const two = await LakeWriter.open(root, { partition: 2 });
    await two.manifest('market_data');
    expect(await filesUnder(root)).toEqual(committed);
    // Each writes the range again: once.
    expect(await one.write(marketData, bars(0, 20))).toMatchObject({ written: 10, skipped: 10 });
    expect(await two.write(marketData, bars(100, 20))).toMatchObject({ written: 10, skipped: 10 });
    await Promise.all([one.close(), two.close(), zero.close()]);
    expect(await read(root)).toEqual({ history: 40, distinct: 40, latest: 40 });
  });

  it('survives kill -9 of a scope writer in another process: reopened, nothing lost, nothing doubled, the other scope untouched', async () => {
    const root = await lakeRoot();
    const SIZE = 10;
    const BATCHES = 130;
    let lastCommitted = -1;
    const parent = await LakeWriter.open(root, { partition: 1 });
    let parentBatches = 0;
    let stop = false;
    // The parent writes scope 1 the whole time the child writes scope 2, and while it is killed.
    const parentLoop = (async () => {
      while (!stop && parentBatches < BATCHES) {
        await parent.write(marketData, bars(parentBatches * SIZE, SIZE, '2024-03-04'));
        parentBatches++;
      }
    })();
    const { stderr } = await runThenKill(
      CHILD,
      [root, '2', String(BATCHES), String(SIZE), '2024-03-05'],
      400,
      (line) => {
        if (line.startsWith('committed ')) lastCommitted = Number(line.slice('committed '.length));
      },
    );
    expect(stderr).toBe('');
    expect(lastCommitted).toBeGreaterThan(0);
    expect(lastCommitted).toBeLessThan(BATCHES * SIZE - 1); // killed mid-stream

    // The partition moves to this process: its writer takes the dead one's lock and recovers.
    const moved = await LakeWriter.open(root, { partition: 2 });
    const resumed = BigInt((await moved.manifest('market_data')).lastPosition!);
    expect(resumed).toBeGreaterThanOrEqual(BigInt(lastCommitted)); // a commit may land unreported
    // The new owner reads from the group's committed offset, which lags the lake: it replays.
    const from = Math.max(0, Math.floor(lastCommitted / SIZE) - 3) * SIZE;
    for (let b = from / SIZE; b < BATCHES; b++)
      await moved.write(marketData, bars(b * SIZE, SIZE, '2024-03-05'));
    stop = true;
    await parentLoop;
    await Promise.all([moved.close(), parent.close()]);

    const dir = path.join(root, 'market_data');
    const scope1 = await readManifest(dir, 'market_data', 1);
    const scope2 = await readManifest(dir, 'market_data', 2);
    expect(scope1.files.reduce((n, f) => n + f.rows, 0)).toBe(parentBatches * SIZE);
    expect(scope2.files.reduce((n, f) => n + f.rows, 0)).toBe(BATCHES * SIZE);
    for (const f of [...scope1.files, ...scope2.files]) await stat(path.join(dir, f.path));
    // Nothing else is left on disk: no stray of the killed writer, no file of scope 1 lost.
    expect(await filesUnder(dir)).toEqual(
      [...scope1.files, ...scope2.files].map((f) => path.basename(f.path)).sort(),
    );
    const total = parentBatches * SIZE + BATCHES * SIZE;
    expect(await read(root)).toEqual({ history: total, distinct: total, latest: total });
  });

  it('compacts one scope only, keeping a tombstone whose key another scope holds', async () => {
    const root = await lakeRoot();
    const zero = await LakeWriter.open(root);
    const four = await LakeWriter.open(root, { partition: 4 });
    // A key moved from scope 4 to scope 0 (a switch of the feeding topic): deleted in scope 0.
    const [moved] = bars(0, 1);
    await four.write(marketData, [moved!]);
    await four.write(marketData, bars(1, 4));
    await zero.write(marketData, bars(10, 3));
    const tombstone: Change = { ...moved!, op: 'd', after: undefined, position: 2n << 20n };
    await zero.write(marketData, [tombstone]);
    const fourBefore = await readFile(path.join(root, 'market_data', '_manifest+p4.json'), 'utf8');
    const result = await compactDataset(zero, marketData, {
      tombstoneRetentionMs: 0,
      now: () => Date.now() + 1000,
    });
    expect(result.partitions).toMatchObject([{ partition: '2024-03-04', filesBefore: 2 }]);
    expect(path.basename(result.partitions[0]!.file)).toBe(
      'market_data+00000000000000000010+00000000000002097152.parquet',
    );
    expect(await readFile(path.join(root, 'market_data', '_manifest+p4.json'), 'utf8')).toBe(fourBefore);
    await using lake = await openLakeQuery(root, allDatasets);
    const ops = await lake.query(`SELECT _op FROM market_data_history WHERE _op = 'd'`);
    expect(ops).toHaveLength(1); // kept: without it scope 4's older version would come back
    expect(await lake.query(`SELECT symbol, bucket_start FROM market_data WHERE volume = 100`)).toEqual([]);
    await Promise.all([zero.close(), four.close()]);
  });
});

describe('position runs per scope', () => {
  const event = (symbol: string, close: number) => {
    const rows = prepareUpsert(marketData as never, [
      {
        symbol,
        interval: '1m',
        bucket_start: '2024-03-04T14:30:00Z',
        open: close,
        high: close,
        low: close,
        close,
        source: 't',
      },
    ]).rows as Record<string, unknown>[];
    return encodeEvent(
      {
        dataset: 'market_data',
        schemaVersion: 1,
        op: 'u',
        rows,
        eventTimes: ['2024-03-04T14:30:00.000000Z'],
        writtenAt: '',
      },
      marketData as never,
    );
  };
  const runsOf = (lake: LakeWriter, topic: string) => ({
    lake,
    topic,
    datasets: allDatasets.map((d) => d.name),
    legacyTopic: 'data-written',
  });

  it('numbers each partition by its own offsets, and a switch of topic above every scope', async () => {
    const root = await lakeRoot();
    const zero = await LakeWriter.open(root);
    const three = await LakeWriter.open(root, { partition: 3 });
    // Stage 1 on a partitioned topic: KEY lives in partition 3, at offset 500 there.
    await new LakeEventSink(zero, findDataset, { runs: runsOf(zero, 'data-written') }).write([
      { position: 2n, payload: event('OTHER', 1) },
    ]);
    await new LakeEventSink(three, findDataset, { runs: runsOf(three, 'data-written') }).write([
      { position: 500n, payload: event('KEY', 1) },
    ]);
    expect(JSON.parse(await readFile(path.join(root, '_positions+p3.json'), 'utf8'))).toEqual({
      runs: [{ topic: 'data-written', from: '0', base: '0' }],
    });
    // Stage 2's one-partition WAL (scope 0) from its position 1: KEY's new version must win.
    await new LakeEventSink(zero, findDataset, { runs: runsOf(zero, 'wal') }).write([
      { position: 1n, payload: event('KEY', 2) },
    ]);
    const zeroRuns = JSON.parse(await readFile(path.join(root, '_positions.json'), 'utf8')) as {
      runs: { base: string }[];
    };
    expect(BigInt(zeroRuns.runs.at(-1)!.base)).toBeGreaterThan(500n << 20n);
    // Back to stage 1: partition 3's old run sits below the WAL's rows, so it starts a new one.
    await new LakeEventSink(three, findDataset, { runs: runsOf(three, 'data-written') }).write([
      { position: 501n, payload: event('KEY', 3) },
    ]);
    // Replaying into a lake whose other scope holds another topic's rows is refused.
    const replay = new LakeEventSink(three, findDataset, { runs: { ...runsOf(three, 'wal'), replay: true } });
    await expect(replay.write([{ position: 1n, payload: event('KEY', 9) }])).rejects.toMatchObject({
      code: 'LAKE_RUN',
    });
    await Promise.all([zero.close(), three.close()]);
    await using lake = await openLakeQuery(root, allDatasets);
    expect(await lake.query(`SELECT symbol, close FROM market_data ORDER BY symbol`)).toEqual([
      { symbol: 'KEY', close: '3.000000' },
      { symbol: 'OTHER', close: '1.000000' },
    ]);
  });
});

describe('tierflow lake over scopes', () => {
  async function cli(...args: string[]): Promise<{ out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => {
      out.push(`${parts.map(String).join(' ')}\n`);
    });
    const error = vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => {
      err.push(`${parts.map(String).join(' ')}\n`);
    });
    try {
      const program = new Command('tierflow').option('--data-dir <dir>').exitOverride();
      registerLakeCompact(registerLake(program));
      await program.parseAsync(args, { from: 'user' });
    } finally {
      log.mockRestore();
      error.mockRestore();
    }
    return { out: out.join(''), err: err.join('') };
  }

  it('lists and compacts every scope, skipping one whose writer runs', async () => {
    const root = await lakeRoot();
    for (const partition of [0, 1, 2]) {
      const writer = await LakeWriter.open(root, { partition });
      for (let b = 0; b < 3; b++) await writer.write(marketData, bars(b * 5, 5, `2024-03-0${4 + partition}`));
      await writer.close();
    }
    const ls = (await cli('lake', '--lake', root, 'ls')).out;
    expect(ls).toMatch(/market_data\s+3\s+9\s+45\s+[\d,]+\s+14, p1:14, p2:14\s+9\s+3/);
    expect((await cli('lake', '--lake', root, 'ls', 'market_data')).out).toContain(
      'market_data+p2+00000000000000000010+00000000000000000014.parquet',
    );
    const running = await LakeWriter.open(root, { partition: 2 });
    const exitCode = process.exitCode;
    try {
      const compact = await cli('lake', '--lake', root, 'compact', '--dataset', 'market_data');
      expect(compact.out).toMatch(/market_data\s+0\s+2024-03-04\s+3\s+15\s+15/);
      expect(compact.out).toMatch(/market_data\s+1\s+2024-03-05\s+3\s+15\s+15/);
      expect(compact.err).toMatch(/scope 2: skipped, .*LOCK\+p2 is in use by another writer/);
      expect(process.exitCode).toBe(1);
    } finally {
      process.exitCode = exitCode;
      await running.close();
    }
    expect((await cli('lake', '--lake', root, 'ls')).out).toMatch(/market_data\s+3\s+5\s+45\s/);
  });
});
