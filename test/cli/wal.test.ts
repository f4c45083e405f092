import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allDatasets } from '../../src/datasets/index.ts';
import { openLakeQuery } from '../../src/lake/duckdb-lake.ts';
import { openLog } from '../../src/log/open-log.ts';
import { createTierflow } from '../../src/tierflow.ts';
import { dropSchema, useTierflow } from '../support/hot.ts';
import { runTierflow } from '../support/cli.ts';
import { EVERY_LOG } from '../support/log-backends.ts';

describe.each(EVERY_LOG)('tierflow replay and tierflow wal history on the $name log', ({ server }) => {
  const ctx = useTierflow({ mode: 'hot-only' });
  const target = `${ctx.schema}_cli`;
  let dir: string;
  let spec: string;
  let prefix: string | undefined;
  let up = true;

  const tierflow = (...args: string[]) => runTierflow('--database-url', ctx.url, ...args);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tierflow-cli-wal-'));
    if (server) {
      up = await server.available();
      if (!up) return;
      prefix = server.prefix('cliwal');
      spec = server.spec(prefix);
    } else spec = `file:${path.join(dir, 'log')}`;
    const log = await openLog(spec);
    const tf = await createTierflow({
      databaseUrl: ctx.url,
      schema: ctx.schema,
      mode: 'wal',
      log,
      walAck: 'hot',
    });
    const bar = (close: number) => ({
      symbol: 'CLI',
      interval: '1m',
      bucket_start: '2024-03-04T14:30:00Z',
      open: close,
      high: close,
      low: close,
      close,
      source: 'cli-test',
    });
    await tf.repositories.marketData.upsert([bar(1)]);
    await tf.repositories.marketData.upsert([bar(2)]);
    await tf.close();
    await log.close();
  });
  afterAll(async () => {
    if (server && prefix) await server.drop(prefix);
    await dropSchema(ctx.url, target);
    await rm(dir, { recursive: true, force: true });
  });

  it('replays the WAL into another schema and a new lake', async (t) => {
    if (!up) return t.skip();
    const lake = path.join(dir, 'lake');
    const result = tierflow(
      '--schema',
      target,
      'replay',
      '--from',
      'earliest',
      '--target',
      'both',
      '--log',
      spec,
      '--lake',
      lake,
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/both\s+2\s+2\s+1/);
    await using query = await openLakeQuery(lake, allDatasets);
    expect(await query.query(`SELECT close FROM market_data`)).toEqual([{ close: '2.000000' }]);
  });

  it('prints the audit trail of one record', (t) => {
    if (!up) return t.skip();
    const result = tierflow(
      'wal',
      '--log',
      spec,
      'history',
      '--dataset',
      'market_data',
      '--key',
      'symbol=CLI,interval=1m,bucket_start=2024-03-04T14:30:00Z',
      '--format',
      'json',
    );
    expect(result.code).toBe(0);
    const lines = result.stdout
      .split('\n')
      .map((l) => JSON.parse(l) as { operation: string; row: { close: string } });
    expect(lines.map((l) => [l.operation, l.row.close])).toEqual([
      ['u', '1.000000'],
      ['u', '2.000000'],
    ]);
  });

  it('refuses an unknown target with a one-line error', (t) => {
    if (!up) return t.skip();
    const result = tierflow('replay', '--from', 'earliest', '--target', 'lake', '--log', spec);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--target "lake" is not hot, cold or both');
  });
});
