import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticBars } from '../../bench/bars.ts';
import { marketData } from '../../src/datasets/index.ts';
import { prepareUpsert } from '../../src/hot/hot-only-writer.ts';
import { createFileLog } from '../../src/log/file/index.ts';
import { encodeEvent } from '../../src/events/data-written-event.ts';
import { runTierflow } from '../support/cli.ts';

let dir: string;

const tierflow = (...args: string[]) => runTierflow('log', '--log', `file:${dir}`, ...args);

describe('tierflow log', () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tierflow-cli-log-'));
    const log = await createFileLog(dir);
    await log.append('events', [
      { key: 'AAPL', payload: new TextEncoder().encode('{"n":1}') },
      { key: 'MSFT', payload: new TextEncoder().encode('{"n":2}') },
      { payload: new Uint8Array([0, 159, 146, 150]) },
    ]);
    const rows = prepareUpsert(marketData as never, syntheticBars({ count: 2 }) as never).rows as Record<
      string,
      unknown
    >[];
    const event = {
      dataset: 'market_data',
      schemaVersion: 1,
      op: 'u' as const,
      rows,
      eventTimes: rows.map((r) => r.bucket_start as string),
      writtenAt: '2024-01-02T14:30:00.000Z',
      origin: 'wal',
    };
    await log.append('wal', [{ key: 'market_data', payload: encodeEvent(event, marketData as never) }]);
    await log.commit('lake', 'events', 0n);
    await log.close();
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('lists topics with their size', () => {
    const { code, stdout } = tierflow('topics');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^topic\s+entries\s+bytes\s+first\s+last/);
    expect(stdout).toMatch(/events\s+3\s+\d+\s+0\s+2/);
  });

  it('tails entries as text or JSON, binary payloads as base64', () => {
    const text = tierflow('tail', 'events', '--limit', '2');
    expect(text.stdout.split('\n').map((l) => l.split('\t').filter((_, i) => i !== 1))).toEqual([
      ['0', 'AAPL', '{"n":1}'],
      ['1', 'MSFT', '{"n":2}'],
    ]);
    const json = tierflow('tail', 'events', '--from', '2', '--format', 'json');
    expect(JSON.parse(json.stdout)).toMatchObject({ position: '2', key: null, payload: 'base64:AJ+Slg==' });
  });

  it('decodes WAL entries and data-written events to JSON', () => {
    const { stdout } = tierflow('tail', 'wal', '--format', 'json');
    const event = JSON.parse(JSON.parse(stdout).payload as string);
    expect(event).toMatchObject({ dataset: 'market_data', op: 'u', origin: 'wal' });
    expect(event.rows).toHaveLength(2);
    expect(event.rows[0]).toMatchObject({ symbol: 'SYM0', interval: '1m', volume: expect.any(String) });
  });

  it('reports group lag and names an unknown topic', () => {
    const { stdout } = tierflow('stats', 'events', '--group', 'lake', 'new');
    expect(stdout).toMatch(/lake\s+0\s+2/);
    expect(stdout).toMatch(/new\s+none\s+3/);
    expect(tierflow('tail', 'nope')).toMatchObject({
      code: 1,
      stderr: 'tierflow: unknown topic "nope" [LOG_UNKNOWN_TOPIC]',
    });
  });
});
