import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Change, Dataset } from '../../src/core/index.ts';
import { defineDataset, t } from '../../src/core/index.ts';
import { allDatasets } from '../../src/datasets/index.ts';
import { runFeed } from '../../src/feed/run-feed.ts';
import { Repository } from '../../src/hot/repository.ts';
import { compactDataset } from '../../src/lake/compaction.ts';
import { openLakeQuery } from '../../src/lake/duckdb-lake.ts';
import { LakeWriter } from '../../src/lake/lake-writer.ts';
import { reconcile } from '../../src/lake/reconcile.ts';
import { useTierflow } from '../support/hot.ts';

/** Every column kind, with its extremes. */
const kinds = defineDataset({
  name: 'kinds',
  version: 1,
  description: 'every column kind',
  columns: {
    id: t.text({ maxLength: 64 }),
    at: t.timestamp(),
    i32: t.int32().nullable(),
    i64: t.int64().nullable(),
    f64: t.float64().nullable(),
    money: t.decimal(38, 10).nullable(),
    flag: t.bool().nullable(),
    on_day: t.date().nullable(),
    doc: t.json().nullable(),
    note: t.text().nullable(),
  },
  primaryKey: ['id', 'at'],
  eventTime: 'at',
});

const extremes = [
  {
    id: 'max',
    at: '2024-12-31T23:59:59.999999Z',
    i32: 2 ** 31 - 1,
    i64: 2n ** 63n - 1n,
    f64: Number.MAX_VALUE,
    money: '9999999999999999999999999999.9999999999',
    flag: true,
    on_day: '9999-12-31',
    doc: { nested: { list: [1, 'two', null, true, 1e21, 1.5e-7] }, ключ: 'ü 漢字 🚀' },
    note: '\'; DROP TABLE kinds; -- \\ " \t\n',
  },
  {
    id: 'min',
    at: '1969-12-31T23:59:59.000001Z',
    i32: -(2 ** 31),
    i64: -(2n ** 63n),
    f64: -Number.MIN_VALUE,
    money: '-0.0000000001',
    flag: false,
    on_day: '0001-01-01',
    doc: [],
    note: '',
  },
  {
    id: 'nulls',
    at: '2024-02-29T12:00:00.5Z',
    i32: null,
    i64: null,
    f64: null,
    money: null,
    flag: null,
    on_day: null,
    doc: null,
    note: null,
  },
  {
    id: 'unicode ключ 🔑',
    at: '2024-03-04T14:30:00.123456Z',
    i32: 0,
    i64: 0n,
    f64: 0.1 + 0.2,
    money: '0',
    flag: true,
    on_day: '2024-02-29',
    doc: 'a json string',
    note: 'NULL',
  },
];

type AnyDataset = Dataset<unknown, unknown>;

describe('hot → lake → DuckDB', () => {
  const ctx = useTierflow();
  let root: string;
  const datasets: AnyDataset[] = [...allDatasets, kinds as AnyDataset];

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tierflow-roundtrip-'));
    await ctx.tf.hot.migrate([kinds as AnyDataset]);
    await new Repository(kinds, ctx.tf.writer, ctx.tf.hot).upsert(extremes);
    await runFeed(ctx.tf.repositories, { symbols: 3, minutes: 20, seed: 5, batchSize: 1000 });
    // The cold path of the later stages, by hand: every hot row becomes a snapshot change.
    await using writer = await LakeWriter.open(root);
    for (const dataset of datasets) {
      const rows = await ctx.tf.hot.range(dataset, {});
      const changes: Change[] = rows.map((row, i) => ({
        dataset: dataset.name,
        op: 'r',
        key: Object.fromEntries(dataset.primaryKey.map((k) => [k, row[k]])),
        after: row,
        eventTime: row[dataset.eventTime] as string,
        position: BigInt(i),
        source: 'test',
        schemaVersion: dataset.version,
      }));
      // Two batches, so the lake holds more than one file per partition.
      const half = Math.ceil(changes.length / 2);
      await writer.write(dataset, changes.slice(0, half));
      await writer.write(dataset, changes.slice(half));
    }
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('brings every row of every dataset and column kind back equal', async () => {
    await using lake = await openLakeQuery(root, datasets);
    for (const dataset of datasets) {
      const hot = await ctx.tf.hot.range(dataset, {});
      expect(hot.length, dataset.name).toBeGreaterThan(0);
      const columns = dataset.columns.map((c) => `"${c.name}"`).join(', ');
      const order = [dataset.eventTime, ...dataset.primaryKey].map((c) => `"${c}"`).join(', ');
      const cold = await lake.query(`SELECT ${columns} FROM "${dataset.name}" ORDER BY ${order}`);
      const json = dataset.columns.filter((c) => c.kind === 'json').map((c) => c.name);
      const parsed = cold.map((row) => ({
        ...row,
        ...Object.fromEntries(json.map((c) => [c, row[c] === null ? null : JSON.parse(row[c] as string)])),
      }));
      expect(parsed, dataset.name).toEqual(hot);
    }
  });

  it('reconciles clean, stays equal under compaction while queries run', async () => {
    {
      await using lake = await openLakeQuery(root, datasets);
      const report = await reconcile({ pool: ctx.tf.hot.pool, schema: ctx.schema, lake, datasets });
      expect(
        report.clean,
        JSON.stringify(
          report.days.filter((d) => d.status !== 'match'),
          (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v),
        ),
      ).toBe(true);
      expect(report.days.length).toBeGreaterThan(12);
    }
    await using lake = await openLakeQuery(root, datasets);
    const count = async () => (await lake.query(`SELECT count(*) AS n FROM trades_history`))[0];
    const latest = async () => (await lake.query(`SELECT count(*) AS n, sum(size) AS s FROM trades`))[0];
    const before = await latest();
    let queries = 0;
    let compacting = true;
    const reading = (async () => {
      while (compacting) {
        expect(await latest()).toEqual(before);
        queries++;
      }
    })();
    {
      await using writer = await LakeWriter.open(root);
      for (const dataset of datasets) await compactDataset(writer, dataset);
    }
    compacting = false;
    await reading;
    expect(queries).toBeGreaterThan(0);
    await lake.refresh();
    expect(await latest()).toEqual(before);
    expect(await count()).toEqual({ n: BigInt(before!.n as bigint) });
    const report = await reconcile({ pool: ctx.tf.hot.pool, schema: ctx.schema, lake, datasets });
    expect(report.clean).toBe(true);
  });
});
