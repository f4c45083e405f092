import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { allDatasets } from '../../src/datasets/index.ts';
import { runFeed } from '../../src/feed/run-feed.ts';
import { openLakeQuery } from '../../src/lake/duckdb-lake.ts';
import { reconcile } from '../../src/lake/reconcile.ts';
import type { Log } from '../../src/log/log.ts';
import { createTierflow } from '../../src/tierflow.ts';
import { startStage1 } from '../../src/pipeline/stage1.ts';
import { startStage2 } from '../../src/wal/stage2.ts';
import { HotStorageProcessor } from '../../src/wal/hot-storage-processor.ts';
import { HotStore } from '../../src/hot/hot-store.ts';
import { findDataset } from '../../src/datasets/index.ts';
import { dropSchema, useTierflow } from '../support/hot.ts';
import { SELECTED_SERVER_LOGS } from '../support/log-backends.ts';

/** The stage tests on every log that runs on a server: NATS JetStream, Apache Kafka, Redis Streams. */
describe.each(SELECTED_SERVER_LOGS)('stages 1 and 2 on the $name log', (backend) => {
  const ctx = useTierflow({ mode: 'hot-only' });
  const dirs: string[] = [];
  /** A log under a fresh prefix, or undefined when no server answers (the test then skips). */
  const openLog = async (label: string): Promise<{ log: Log; prefix: string } | undefined> => {
    if (!(await backend.available())) return undefined;
    const prefix = backend.prefix(label);
    return { log: await backend.open(prefix), prefix };
  };
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('stage 1: events appended inside the hot transactions reach the lake, reconciled clean', async (t) => {
    const opened = await openLog('s1');
    if (!opened) return t.skip();
    const { log, prefix } = opened;
    const dir = await mkdtemp(path.join(tmpdir(), `tierflow-s1-${backend.name}-`));
    dirs.push(dir);
    const schema = `${ctx.schema}_s1`;
    const tf = await createTierflow({ databaseUrl: ctx.url, schema, mode: 'dual-write' });
    try {
      const stage1 = await startStage1({ tf, log, lakeRoot: path.join(dir, 'lake'), maxBatchMs: 20 });
      await runFeed(tf.repositories, { symbols: 2, minutes: 10, seed: 13, batchSize: 300 });
      await stage1.waitCaughtUp(60_000);
      await stage1.stop();
      await using lake = await openLakeQuery(path.join(dir, 'lake'), allDatasets);
      const report = await reconcile({ pool: tf.hot.pool, schema, lake, datasets: allDatasets });
      expect(report.clean).toBe(true);
      expect(report.days.length).toBeGreaterThan(0);
    } finally {
      await tf.close();
      await dropSchema(ctx.url, schema);
      await log.close();
      await backend.drop(prefix);
    }
  });

  it('stage 2: applies every entry to hot and cold from the WAL, after a restart of the processors too', async (t) => {
    const opened = await openLog('wal');
    if (!opened) return t.skip();
    const { log, prefix } = opened;
    const dir = await mkdtemp(path.join(tmpdir(), `tierflow-wal-${backend.name}-`));
    dirs.push(dir);
    const lakeRoot = path.join(dir, 'lake');
    try {
      let tf = await createTierflow({ databaseUrl: ctx.url, schema: ctx.schema, mode: 'wal', log });
      await runFeed(tf.repositories, { symbols: 2, minutes: 10, seed: 11, batchSize: 300 });
      // The hot processor stops with entries still to apply, and starts again from its checkpoint.
      await tf.close();
      tf = await createTierflow({ databaseUrl: ctx.url, schema: ctx.schema, mode: 'wal', log });
      await runFeed(tf.repositories, { symbols: 2, minutes: 10, seed: 12, batchSize: 300 });
      const stage2 = await startStage2({ wal: tf.wal!, lakeRoot, maxBatchMs: 20 });
      await stage2.waitCaughtUp(60_000);
      await stage2.stop();
      await using lake = await openLakeQuery(lakeRoot, allDatasets);
      const report = await reconcile({ pool: tf.hot.pool, schema: ctx.schema, lake, datasets: allDatasets });
      expect(report.clean).toBe(true);
      expect(report.days.length).toBeGreaterThan(0);
      await tf.close();
    } finally {
      await log.close();
      await backend.drop(prefix);
    }
  });

  it('stage 2: a hot processor stopped while it reads its checkpoint stops', async (t) => {
    const opened = await openLog('stop');
    if (!opened) return t.skip();
    const { log, prefix } = opened;
    const schema = `${ctx.schema}_stop`;
    const tf = await createTierflow({ databaseUrl: ctx.url, schema, mode: 'wal', log });
    try {
      await runFeed(tf.repositories, { symbols: 1, minutes: 2, seed: 5, batchSize: 100 });
      // The real pool, with the checkpoint read held until the processor has been told to stop.
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let entered!: () => void;
      const reading = new Promise<void>((resolve) => (entered = resolve));
      const pool = tf.hot.pool;
      const gated = new Proxy(pool, {
        get(target, prop) {
          if (prop === 'query')
            return async (...args: Parameters<typeof pool.query>) => {
              if (String(args[0]).includes('SELECT position')) {
                entered();
                await gate;
              }
              return (target.query as (...a: unknown[]) => unknown)(...args);
            };
          const value = Reflect.get(target, prop, target) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      const processor = new HotStorageProcessor(new HotStore(gated, { schema }), log, {
        datasetOf: findDataset,
        name: 'stopped-early',
      });
      processor.start();
      await reading;
      const stopped = processor.stop();
      release();
      // Before the fix the reader was created after the abort, never heard it, and this waited forever.
      await stopped;
      expect(processor.appliedThrough).toBeUndefined();
    } finally {
      await tf.close();
      await dropSchema(ctx.url, schema);
      await log.close();
      await backend.drop(prefix);
    }
  });
});
