import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { assertLogFitsPositions } from '../../src/cold/log-fits-positions.ts';
import { ConfigError } from '../../src/core/index.ts';
import { createRedisLog, dropRedisPrefix } from '../../src/log/redis/index.ts';
import { startStage1 } from '../../src/pipeline/stage1.ts';
import { createTierflow } from '../../src/tierflow.ts';
import { dropSchema, useTierflow } from '../support/hot.ts';
import { REDIS_URL, pingRedis, serviceAvailable } from '../support/services.ts';

describe('assertLogFitsPositions', () => {
  it.each(['stage 1', 'stage 2'] as const)(
    'refuses the Redis log for %s with a ConfigError naming the stage and why',
    (stage) => {
      let error: unknown;
      try {
        assertLogFitsPositions({ backend: 'redis' }, stage);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect(error).toMatchObject({ code: 'CONFIG', retriable: false });
      expect((error as Error).message).toBe(
        `${stage} cannot run on the Redis log yet: its positions (from stream IDs) exceed the 2^43 a lake row position (log position × 2^20 + row) allows; use the file log or NATS JetStream`,
      );
    },
  );

  it('lets the logs that count from 0 through', () => {
    for (const backend of ['file', 'nats'])
      expect(() => assertLogFitsPositions({ backend }, 'stage 1')).not.toThrow();
  });
});

const redisUp = serviceAvailable('Redis', pingRedis);

describe('the Redis log at start-up', async () => {
  const up = await redisUp;
  const ctx = useTierflow({ mode: 'dual-write' });
  const prefix = `tf-refused-${randomBytes(4).toString('hex')}`;
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    if (up) await dropRedisPrefix(REDIS_URL, prefix);
    await dropSchema(ctx.url, `${ctx.schema}_wal`);
  });

  it.runIf(up)('numbers today’s entries beyond 2^43, which is why it is refused', async () => {
    const log = createRedisLog(REDIS_URL, { prefix });
    try {
      const [position] = await log.append('probe', [{ payload: Buffer.from('x') }]);
      expect(position! >= 2n ** 43n).toBe(true);
    } finally {
      await log.close();
    }
  });

  it.runIf(up)('is refused as the WAL by createTierflow', async () => {
    const schema = `${ctx.schema}_wal`;
    await expect(
      createTierflow({ databaseUrl: ctx.url, schema, mode: 'wal', log: REDIS_URL }),
    ).rejects.toThrow(/^stage 2 cannot run on the Redis log yet/);
  });

  it.runIf(up)('is refused as the event log by startStage1', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-refused-'));
    dirs.push(dir);
    const log = createRedisLog(REDIS_URL, { prefix });
    try {
      // Not refused: stop what started, and fail below.
      const outcome = await startStage1({ tf: ctx.tf, log, lakeRoot: path.join(dir, 'lake') }).then(
        async (stage1) => stage1.stop(),
        (error: unknown) => error,
      );
      expect(outcome).toBeInstanceOf(ConfigError);
      expect((outcome as Error).message).toMatch(/^stage 1 cannot run on the Redis log yet/);
    } finally {
      await log.close();
    }
  });
});
