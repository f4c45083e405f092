import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allDatasets, findDataset, marketData } from '../../src/datasets/index.ts';
import { runFeed } from '../../src/feed/run-feed.ts';
import { openLakeQuery } from '../../src/lake/duckdb-lake.ts';
import { LakeWriter } from '../../src/lake/lake-writer.ts';
import { reconcile } from '../../src/lake/reconcile.ts';
import { createFileLog } from '../../src/log/file/index.ts';
import type { Log } from '../../src/log/log.ts';
import { LakeEventSink } from '../../src/cold/event-sink.ts';
import type { Tierflow } from '../../src/tierflow.ts';
import { createTierflow } from '../../src/tierflow.ts';
import { recordHistory } from '../../src/wal/history.ts';
import { replay } from '../../src/wal/replay.ts';
import type { Stage2 } from '../../src/wal/stage2.ts';
import { startStage2 } from '../../src/wal/stage2.ts';
import { dropSchema, useTierflow } from '../support/hot.ts';

const bar = (symbol: string, minute: number, close: number) => ({
  symbol,
  interval: '1m',
  bucket_start: new Date(Date.UTC(2024, 2, 4, 14, minute)),
  open: close,
  high: close,
  low: close,
  close,
  source: 'test',
});

/** Every row of every dataset table, in key order, without the write-time column. */
async function snapshot(tf: Tierflow): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const dataset of allDatasets) {
    const { rows } = await tf.hot.pool.query(
      `SELECT * FROM "${tf.schema}"."${dataset.name}" ORDER BY ${dataset.primaryKey.map((k) => `"${k}"`).join(', ')}`,
    );
    out[dataset.name] = rows.map(({ _updated_at: _, ...rest }) => rest);
  }
  return out;
}

describe('stage 2: the write-ahead log first, then both tiers', () => {
  const ctx = useTierflow({ mode: 'hot-only' });
  const replaySchema = `${ctx.schema}_replay`;
  let dir: string;
  let log: Log;
  let tf: Tierflow;
  let stage2: Stage2;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tierflow-wal-'));
    log = await createFileLog(path.join(dir, 'log'));
    tf = await createTierflow({ databaseUrl: ctx.url, schema: ctx.schema, mode: 'wal', log });
    stage2 = await startStage2({ wal: tf.wal!, lakeRoot: path.join(dir, 'lake'), maxBatchMs: 20 });
  });
  afterAll(async () => {
    await stage2.stop();
    await tf.close();
    await log.close();
    await dropSchema(ctx.url, replaySchema);
    await rm(dir, { recursive: true, force: true });
  });

  it('acknowledges once durable in the WAL, then applies every entry to hot and cold alike', async () => {
    await runFeed(tf.repositories, { symbols: 3, minutes: 20, seed: 5, batchSize: 400 });
    await tf.repositories.companies.delete([{ symbol: 'AAPL' }]);
    expect(tf.writer.kind).toBe('wal');
    await stage2.waitCaughtUp(30_000);

    await using lake = await openLakeQuery(path.join(dir, 'lake'), allDatasets);
    const report = await reconcile({ pool: tf.hot.pool, schema: ctx.schema, lake, datasets: allDatasets });
    expect(report.clean).toBe(true);
    // Both tiers number a change alike: the hot row's _seq is the lake row's _position.
    const [hotRow] = (
      await tf.hot.pool.query(
        `SELECT symbol, _seq FROM "${ctx.schema}".market_data ORDER BY _seq DESC LIMIT 1`,
      )
    ).rows;
    const [lakeRow] = await lake.query(
      `SELECT symbol, _position FROM market_data ORDER BY _position DESC LIMIT 1`,
    );
    expect(lakeRow).toEqual({ symbol: hotRow.symbol, _position: hotRow._seq });
    expect(await lake.query(`SELECT count(*) AS n FROM companies WHERE symbol = 'AAPL'`)).toEqual([
      { n: 0n },
    ]);
  });

  it("with ack 'hot', a write is readable as soon as it is acknowledged", async () => {
    const eager = await createTierflow({
      databaseUrl: ctx.url,
      schema: ctx.schema,
      mode: 'wal',
      log,
      walAck: 'hot',
    });
    try {
      for (let i = 0; i < 5; i++) {
        await eager.repositories.marketData.upsert([bar('RYW', i, 10 + i)]);
        const row = await eager.repositories.marketData.get({
          symbol: 'RYW',
          interval: '1m',
          bucket_start: new Date(Date.UTC(2024, 2, 4, 14, i)),
        });
        expect(row?.close).toBe(`${10 + i}.000000`);
      }
    } finally {
      await eager.close();
    }
  });

  it('lists every change of one record with its sequence and time', async () => {
    const repo = tf.repositories.marketData;
    await repo.upsert([bar('HIST', 0, 1)]);
    await repo.upsert([bar('HIST', 0, 2), bar('OTHER', 0, 9)]);
    await repo.delete([{ symbol: 'HIST', interval: '1m', bucket_start: '2024-03-04T14:00:00Z' }]);
    await repo.upsert([bar('HIST', 0, 3)]);
    const history = await recordHistory({
      log,
      dataset: marketData,
      key: { symbol: 'HIST', interval: '1m', bucket_start: '2024-03-04T14:00:00Z' },
      datasetOf: findDataset,
    });
    expect(history.map((v) => [v.operation, v.row.close ?? null])).toEqual([
      ['u', '1.000000'],
      ['u', '2.000000'],
      ['d', null],
      ['u', '3.000000'],
    ]);
    const sequences = history.map((v) => v.sequence);
    expect([...sequences].sort((a, b) => (a < b ? -1 : 1))).toEqual(sequences);
    expect(history.every((v) => v.origin === 'wal' && v.at instanceof Date)).toBe(true);
  });

  it('replaying the whole WAL into an empty schema and an empty lake reproduces both tiers', async () => {
    await stage2.waitCaughtUp(30_000);
    const copy = await createTierflow({ databaseUrl: ctx.url, schema: replaySchema, mode: 'hot-only' });
    const lakeRoot = path.join(dir, 'replayed-lake');
    const lake = await LakeWriter.open(lakeRoot);
    try {
      const result = await replay({
        log,
        from: 'earliest',
        hot: copy.hot,
        lake: new LakeEventSink(lake, findDataset),
        datasetOf: findDataset,
      });
      expect(result.entries).toBeGreaterThan(10);
      expect(await snapshot(copy)).toEqual(await snapshot(tf));
      // Replaying again leaves the same rows. (Not a no-op: the hot table keeps no tombstones, so a
      // deleted row is inserted by its old upsert and deleted again by its delete.)
      const before = await snapshot(copy);
      const again = await replay({ log, from: 'earliest', hot: copy.hot, datasetOf: findDataset });
      expect(again.entries).toBe(result.entries);
      expect(await snapshot(copy)).toEqual(before);
      await lake.close();
      await using query = await openLakeQuery(lakeRoot, allDatasets);
      const report = await reconcile({
        pool: copy.hot.pool,
        schema: replaySchema,
        lake: query,
        datasets: allDatasets,
      });
      expect(report.clean).toBe(true);
    } finally {
      await copy.close();
    }
  });

  it('replays a stretch by sequence and by dataset only', async () => {
    const copy = await createTierflow({ databaseUrl: ctx.url, schema: `${replaySchema}2`, mode: 'hot-only' });
    try {
      const stats = await log.stats('wal');
      const result = await replay({
        log,
        from: stats.last!,
        to: stats.last!,
        hot: copy.hot,
        datasetOf: findDataset,
      });
      expect(result).toMatchObject({ entries: 1, first: stats.last, last: stats.last });
      const onlyCompanies = await replay({
        log,
        from: 'earliest',
        datasets: ['companies'],
        hot: copy.hot,
        datasetOf: findDataset,
      });
      expect(onlyCompanies.entries).toBeGreaterThan(0);
      expect(await copy.repositories.companies.count()).toBe(await tf.repositories.companies.count());
    } finally {
      await copy.close();
      await dropSchema(ctx.url, `${replaySchema}2`);
    }
  });
});
