import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { marketData } from '../../src/datasets/index.ts';
import { DEAD_LETTER_TOPIC, DeadLetters } from '../../src/events/dead-letters.ts';
import { openLakeQuery } from '../../src/lake/duckdb-lake.ts';
import { createFileLog } from '../../src/log/file/index.ts';
import { PrometheusMetrics } from '../../src/observe/prometheus.ts';
import { createTierflow } from '../../src/tierflow.ts';
import { startStage2 } from '../../src/wal/stage2.ts';
import { WAL_TOPIC } from '../../src/wal/wal-entry.ts';
import { runTierflow } from '../support/cli.ts';
import { useTierflow } from '../support/hot.ts';

const bar = (symbol: string, close: string) => ({
  symbol,
  interval: '1m',
  bucket_start: new Date(Date.UTC(2024, 2, 4, 14, 30)),
  open: close,
  high: close,
  low: close,
  close,
  source: 'test',
});

/** A payload in the columnar format's clothes whose header is not JSON: no version of tierflow can read it. */
const CORRUPT = new Uint8Array([0x54, 0x46, 0x02, 4, 0, 0, 0, 0x7b, 0x7b, 0x7b, 0x7b]);

describe('an entry that cannot be applied never stalls a pipeline', () => {
  const ctx = useTierflow({ mode: 'hot-only' });
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('a corrupt WAL entry between two good ones goes to the dead-letter topic, from the hot and the cold processor, and both move on', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-dlq-'));
    dirs.push(dir);
    const lakeRoot = path.join(dir, 'lake');
    const metrics = new PrometheusMetrics({ processMetrics: false });
    const log = await createFileLog(path.join(dir, 'log'));
    const tf = await createTierflow({ databaseUrl: ctx.url, schema: ctx.schema, mode: 'wal', log, metrics });
    const stage2 = await startStage2({ wal: tf.wal!, lakeRoot, metrics, maxBatchMs: 20, retention: false });
    let corruptAt: bigint;
    try {
      await tf.repositories.marketData.upsert([bar('AAA', '1.5')]);
      [corruptAt] = (await log.append(WAL_TOPIC, [{ key: 'market_data', payload: CORRUPT }])) as [bigint];
      await tf.repositories.marketData.upsert([bar('BBB', '2.5')]);
      await stage2.waitCaughtUp(30_000);

      const { rows } = await tf.hot.pool.query<{ symbol: string }>(
        `SELECT symbol FROM "${ctx.schema}".market_data ORDER BY symbol`,
      );
      expect(rows.map((r) => r.symbol)).toEqual(['AAA', 'BBB']);
      {
        await using lake = await openLakeQuery(lakeRoot, [marketData]);
        const inLake = await lake.query('SELECT symbol FROM market_data ORDER BY symbol');
        expect(inLake.map((r) => r.symbol)).toEqual(['AAA', 'BBB']);
      }
      const letters = await new DeadLetters(log).list();
      expect(letters.map((l) => [l.topic, l.sourcePosition, l.pipeline, l.code]).sort()).toEqual([
        [WAL_TOPIC, corruptAt, 'cold-processor', 'EVENT_DECODE'],
        [WAL_TOPIC, corruptAt, 'hot-processor', 'EVENT_DECODE'],
      ]);
      expect(letters[0]!.payload).toEqual(CORRUPT);
      expect(letters[0]!.headers).toEqual({});
      expect(await metrics.text()).toMatch(
        /dead_letters_total\{pipeline="hot-processor",topic="wal",code="EVENT_DECODE"\} 1/,
      );
      // Moving on is not failing: both report healthy once past it.
      expect((await stage2.status()).pipelines.map((p) => p.failing)).toEqual([undefined, undefined]);
    } finally {
      await stage2.stop();
      await tf.close();
      await log.close();
    }

    // The operator's view, and a replay: the one source entry goes back once, the letters are marked.
    const spec = `file:${path.join(dir, 'log')}`;
    const listed = runTierflow('dlq', 'ls', '--format', 'json', '--log', spec);
    expect(listed.code).toBe(0);
    expect(
      listed.stdout
        .split('\n')
        .map((l) => (JSON.parse(l) as { pipeline: string }).pipeline)
        .sort(),
    ).toEqual(['cold-processor', 'hot-processor']);
    const replayed = runTierflow('dlq', 'replay', '--all', '--log', spec);
    expect(replayed.stderr).toBe('');
    expect(replayed.stdout).toContain('replayed 2 dead letter(s): 1 entr(ies) appended');
    expect(runTierflow('dlq', 'ls', '--log', spec).stdout).toBe('no dead letters');

    await using reopened = await createFileLog(path.join(dir, 'log'));
    const stats = await reopened.stats(WAL_TOPIC);
    expect(stats.last).toBe(corruptAt + 2n); // the replayed copy, after the second good entry
    expect((await reopened.stats(DEAD_LETTER_TOPIC)).entries).toBe(3); // two letters and the mark
  });
});
