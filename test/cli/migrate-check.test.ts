import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { EVENT_TOPIC } from '../../src/events/topics.ts';
import { runFeed } from '../../src/feed/run-feed.ts';
import { createFileLog } from '../../src/log/file/index.ts';
import { startStage1 } from '../../src/pipeline/stage1.ts';
import { scratchSchema } from '../../src/stages/entry-checklist.ts';
import { createTierflow } from '../../src/tierflow.ts';
import { WAL_TOPIC } from '../../src/wal/wal-entry.ts';
import { dropSchema, useTierflow } from '../support/hot.ts';
import { runTierflow } from '../support/cli.ts';
import { REDIS_URL, pingRedis, serviceAvailable } from '../support/services.ts';

const CHECKS = [
  'dual writer healthy',
  'cold lag under a minute',
  'reconciliation clean',
  'WAL backend reachable',
  'replay into a scratch target verified',
] as const;

/** The row of one check in the printed table: its result and detail. */
function row(stdout: string, check: string): { result: string; detail: string } {
  const line = stdout.split('\n').find((l) => l.includes(check));
  const match = line && new RegExp(`${check}\\s+(pass|FAIL)\\s+(.*)$`).exec(line.replace(/[│|]/g, ' '));
  if (!match) throw new Error(`no row for "${check}" in:\n${stdout}`);
  return { result: match[1]!, detail: match[2]!.trim() };
}

describe('tierflow migrate check --to wal', () => {
  const ctx = useTierflow({ mode: 'hot-only' });
  let dir: string;
  const logDir = () => path.join(dir, 'log');

  const check = (logSpec = `file:${logDir()}`) =>
    runTierflow(
      '--database-url',
      ctx.url,
      '--schema',
      ctx.schema,
      'migrate',
      'check',
      '--to',
      'wal',
      '--log',
      logSpec,
      '--lake',
      path.join(dir, 'lake'),
    );

  /** Exactly the named checks fail, the command exits 1 and says how many. */
  function expectFailed(result: ReturnType<typeof check>, failed: readonly string[]) {
    expect(result.stderr).toBe('');
    expect(result.code).toBe(1);
    for (const name of CHECKS)
      expect(row(result.stdout, name).result, name).toBe(failed.includes(name) ? 'FAIL' : 'pass');
    expect(result.stdout).toContain(`not ready: ${failed.length} of ${CHECKS.length} checks failed`);
  }

  /** A log of its own for one test, beside the stage 1 log the others use. */
  async function otherLog(name: string): Promise<string> {
    const other = path.join(dir, name);
    await mkdir(other);
    return other;
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tierflow-check-'));
    const log = await createFileLog(logDir());
    const tf = await createTierflow({ databaseUrl: ctx.url, schema: ctx.schema, mode: 'dual-write' });
    const stage1 = await startStage1({ tf, log, lakeRoot: path.join(dir, 'lake'), maxBatchMs: 20 });
    await runFeed(tf.repositories, { symbols: 2, minutes: 10, seed: 3, batchSize: 200 });
    await stage1.waitCaughtUp(30_000);
    await stage1.stop();
    await tf.close();
    await log.close();
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('passes every check on a healthy stage 1, replaying a probe batch into a scratch schema', () => {
    const result = check();
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    for (const name of CHECKS) expect(row(result.stdout, name).result, name).toBe('pass');
    expect(result.stdout).toContain('ready for stage 2 (wal)');
  });

  it('fails "dual writer healthy" while more than 100 events wait in the outbox', async () => {
    const outbox = `"${ctx.schema}".tierflow_outbox`;
    await ctx.tf.hot.pool.query(
      `INSERT INTO ${outbox} (dataset, payload, rows) SELECT 'check-test', '\\x00', 1 FROM generate_series(1, 101)`,
    );
    try {
      const result = check();
      expectFailed(result, ['dual writer healthy']);
      expect(row(result.stdout, 'dual writer healthy').detail).toBe(
        '101 events waiting in the outbox (limit 100)',
      );
    } finally {
      await ctx.tf.hot.pool.query(`DELETE FROM ${outbox} WHERE dataset = 'check-test'`);
    }
  });

  it('fails "cold lag under a minute" when the oldest event the cold consumer has not committed is two minutes old', async () => {
    const lagging = await otherLog('lagging-log');
    const log = await createFileLog(lagging);
    // The file log stamps entries with Date.now() when it appends them.
    const now = vi.spyOn(Date, 'now').mockReturnValue(Date.now() - 120_000);
    try {
      await log.append(EVENT_TOPIC, [{ key: 'market_data', payload: Buffer.from('event') }]);
    } finally {
      now.mockRestore();
      await log.close();
    }
    const result = check(`file:${lagging}`);
    expectFailed(result, ['cold lag under a minute']);
    expect(row(result.stdout, 'cold lag under a minute').detail).toMatch(
      /^1 events behind, the oldest 1[2-9]\d\.\d s old \(limit 60 s\)$/,
    );
  });

  it('fails "WAL backend reachable" on a WAL stream stage 2 refuses, and the replay, which needs it, as skipped', async (test) => {
    if (!(await serviceAvailable('Redis', () => pingRedis()))) test.skip();
    const redis = new URL(REDIS_URL);
    redis.pathname = '/14'; // a database of its own: only the stream below is written, the cold lag check reads it
    // A `wal` stream as the Redis log wrote them before it numbered entries densely: positions
    // from stream IDs, beyond what stage 2's row sequences allow.
    const admin = new Redis(redis.toString());
    const keys = ['topics', `topic:${WAL_TOPIC}`, `groups:${WAL_TOPIC}`, `meta:${WAL_TOPIC}`].map(
      (k) => `tierflow:${k}`,
    );
    try {
      await admin.sadd(keys[0]!, WAL_TOPIC);
      await admin.xadd(keys[1]!, '*', 'p', 'x');
      const result = check(redis.toString());
      expectFailed(result, ['WAL backend reachable', 'replay into a scratch target verified']);
      expect(row(result.stdout, 'WAL backend reachable').detail).toMatch(
        /^stage 2 cannot run on the Redis stream of topic "wal": it was written before tierflow numbered Redis entries densely/,
      );
      expect(row(result.stdout, 'replay into a scratch target verified').detail).toBe(
        'skipped: the WAL backend is not reachable',
      );
    } finally {
      await admin.del(...keys);
      await admin.quit();
    }
  });

  it('fails "replay into a scratch target verified" when the WAL holds an entry that cannot be replayed', async () => {
    const damaged = await otherLog('damaged-wal');
    const log = await createFileLog(damaged);
    try {
      await log.append(WAL_TOPIC, [{ key: 'market_data', payload: Buffer.from('not a WAL entry') }]);
    } finally {
      await log.close();
    }
    const result = check(`file:${damaged}`);
    expectFailed(result, ['replay into a scratch target verified']);
  });

  // Last: it leaves hot and cold disagreeing.
  it('fails "reconciliation clean" when hot and cold disagree', async () => {
    await ctx.tf.hot.pool.query(
      `UPDATE "${ctx.schema}".market_data SET close = close + 1 WHERE ctid IN (SELECT ctid FROM "${ctx.schema}".market_data LIMIT 1)`,
    );
    const result = check();
    expectFailed(result, ['reconciliation clean']);
    expect(row(result.stdout, 'reconciliation clean').detail).toMatch(
      /^1 of \d+ dataset-days differ, first market_data \d{4}-\d\d-\d\d$/,
    );
  });
});

describe('tierflow migrate check on a schema with a 63-character name', () => {
  // `<schema>_check` cut to 63 bytes was the schema itself, which the replay check then dropped.
  const schema = `t_${randomBytes(5).toString('hex')}_${'y'.repeat(50)}`;
  const url = inject('databaseUrl');
  let dir: string;
  beforeAll(async () => {
    expect(schema).toHaveLength(63);
    dir = await mkdtemp(path.join(tmpdir(), 'tierflow-check-long-'));
    await (await createTierflow({ databaseUrl: url, schema, mode: 'hot-only' })).close();
  });
  afterAll(async () => {
    await dropSchema(url, schema);
    await rm(dir, { recursive: true, force: true });
  });

  it('replays into a scratch schema of another name, and leaves the schema and its tables alone', async () => {
    const scratch = scratchSchema(schema);
    expect(scratch).not.toBe(schema);
    expect(Buffer.byteLength(scratch)).toBeLessThanOrEqual(63);
    const result = runTierflow(
      '--database-url',
      url,
      '--schema',
      schema,
      'migrate',
      'check',
      '--to',
      'wal',
      '--log',
      `file:${path.join(dir, 'log')}`,
      '--lake',
      path.join(dir, 'lake'),
    );
    expect(result.stderr).toBe('');
    expect(row(result.stdout, 'replay into a scratch target verified')).toMatchObject({
      result: 'pass',
      detail: expect.stringContaining(`replayed into schema ${scratch} and a scratch lake`),
    });
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'market_data'`,
        [schema],
      );
      expect(rows[0]!.n).toBe(1);
      const { rowCount } = await client.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [scratch]);
      expect(rowCount).toBe(0);
    } finally {
      await client.end();
    }
  });
});
