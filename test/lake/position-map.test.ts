import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { allDatasets, findDataset, marketData } from '../../src/datasets/index.ts';
import { prepareUpsert } from '../../src/hot/hot-only-writer.ts';
import { openLakeQuery } from '../../src/lake/duckdb-lake.ts';
import { LakeWriter } from '../../src/lake/lake-writer.ts';
import { encodeEvent } from '../../src/events/data-written-event.ts';
import { LakeEventSink } from '../../src/cold/event-sink.ts';
import { lakeRuns } from '../../src/cold/open-lake-sink.ts';

const event = (close: number) => {
  const rows = prepareUpsert(marketData as never, [
    {
      symbol: 'RUN',
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

describe('lake position runs: several topics feeding one lake over time', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('numbers a new topic above everything the lake holds, and refuses entries from before a run', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'tierflow-runs-'));
    dirs.push(root);
    const lake = await LakeWriter.open(root);
    const sinkFor = (topic: string) => new LakeEventSink(lake, findDataset, { runs: lakeRuns(lake, topic) });
    await sinkFor('first').write([{ position: 7n, payload: event(1) }]);
    // Another topic starting at its own position 0 would be skipped without a run of its own.
    await sinkFor('second').write([{ position: 0n, payload: event(2) }]);
    await sinkFor('first').write([{ position: 8n, payload: event(3) }]);
    const stale = sinkFor('first');
    await expect(stale.write([{ position: 2n, payload: event(4) }])).rejects.toMatchObject({
      code: 'LAKE_RUN',
    });
    await lake.close();

    await using query = await openLakeQuery(root, allDatasets);
    const history = await query.query(`SELECT close, _position FROM market_data_history ORDER BY _position`);
    expect(history.map((r) => r.close)).toEqual(['1.000000', '2.000000', '3.000000']);
    expect(history[0]!._position).toBe(7n << 20n);
    expect(await query.query(`SELECT close FROM market_data`)).toEqual([{ close: '3.000000' }]);
  });

  it("treats a lake written before runs existed as stage 1's, and refuses a replay that would sit above newer changes", async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'tierflow-runs-legacy-'));
    dirs.push(root);
    const lake = await LakeWriter.open(root);
    // Written the old way: no runs file, positions straight from the log.
    await new LakeEventSink(lake, findDataset).write([{ position: 9n, payload: event(1) }]);
    const runs = (topic: string, replay = false) =>
      new LakeEventSink(lake, findDataset, { runs: { ...lakeRuns(lake, topic), replay } });
    await runs('wal').write([{ position: 0n, payload: event(2) }]);
    await expect(
      runs('data-written', true).write([{ position: 10n, payload: event(3) }]),
    ).rejects.toMatchObject({
      code: 'LAKE_RUN',
    });
    await lake.close();
    await using query = await openLakeQuery(root, allDatasets);
    expect(await query.query(`SELECT close FROM market_data`)).toEqual([{ close: '2.000000' }]);
  });
});
