import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { LogClosedError, LogUnavailableError } from '../../src/log/errors.ts';
import type { Log } from '../../src/log/log.ts';
import { StreamIdRangeError, UnexpectedReplyError } from '../../src/log/redis/errors.ts';
import { waitForAof } from '../../src/log/redis/wait-aof.ts';
import { createRedisLog } from '../../src/log/redis/redis-log.ts';
import { dropRedisPrefix } from '../../src/log/redis/drop-prefix.ts';
import {
  compareStreamIds,
  formatStreamId,
  parseStreamId,
  positionFromStreamId,
  predecessor,
  streamIdFromPosition,
  successor,
} from '../../src/log/redis/stream-id.ts';
import { fitBatch } from '../../src/log/redis/stream-reader.ts';
import { readerConnectionName } from '../../src/log/redis/connection.ts';
import { REDIS_URL, pingRedis, serviceAvailable } from '../support/services.ts';
import { until } from '../support/until.ts';
import type { LogHarness } from './conformance.ts';
import { collect, logConformance } from './conformance.ts';

let redisAvailable: Promise<boolean> | undefined;
/** Probed once per file, so a missing server is reported once. */
function redisUp(): Promise<boolean> {
  redisAvailable ??= serviceAvailable('Redis', pingRedis);

  return redisAvailable;
}

const uniquePrefix = () => `tierflow-test-${randomBytes(6).toString('hex')}`;

/** Until a reader of the log with this prefix waits inside XREAD BLOCK, as the server sees it. */
async function readerBlocked(prefix: string): Promise<void> {
  const admin = new Redis(REDIS_URL);
  try {
    const name = `name=${readerConnectionName(prefix)} `;
    await until(async () => {
      const clients = (await admin.client('LIST')) as string;
      return clients
        .split('\n')
        .some((c) => c.includes(name) && /\bcmd=xread\b/.test(c) && /\bflags=\S*b/.test(c));
    }, 'the reader to block in XREAD');
  } finally {
    await admin.quit();
  }
}

const deleteKeys = (prefix: string) => dropRedisPrefix(REDIS_URL, prefix);

logConformance('redis', async (): Promise<LogHarness | undefined> => {
  if (!(await redisUp())) return undefined;
  const prefix = uniquePrefix();
  return {
    open: async () => createRedisLog(REDIS_URL, { prefix }),
    cleanup: () => deleteKeys(prefix),
    maxPayloadBytes: 8 * 1024 * 1024,
  };
});

describe('Redis stream IDs as positions', () => {
  const MAX_PART = (1n << 64n) - 1n;
  const streamId = fc.record({
    ms: fc.bigInt({ min: 0n, max: MAX_PART }),
    seq: fc.bigInt({ min: 0n, max: (1n << 22n) - 1n }),
  });

  it('packs ms and seq as ms × 2^22 + seq', () => {
    expect(positionFromStreamId('0-0')).toBe(0n);
    expect(positionFromStreamId('0-7')).toBe(7n);
    expect(positionFromStreamId('1-0')).toBe(1n << 22n);
    expect(positionFromStreamId('1700000000000-5')).toBe(1_700_000_000_000n * 4_194_304n + 5n);
    expect(streamIdFromPosition((1n << 22n) + 3n)).toBe('1-3');
  });

  it('refuses what the packing cannot hold', () => {
    expect(() => positionFromStreamId(`5-${1n << 22n}`)).toThrow(StreamIdRangeError);
    expect(() => positionFromStreamId('5')).toThrow(StreamIdRangeError);
    expect(() => positionFromStreamId('a-1')).toThrow(StreamIdRangeError);
    expect(() => positionFromStreamId(`${MAX_PART + 1n}-0`)).toThrow(StreamIdRangeError);
    expect(() => streamIdFromPosition(-1n)).toThrow(StreamIdRangeError);
  });

  it('round-trips every representable ID and keeps their order', () => {
    fc.assert(
      fc.property(streamId, streamId, (a, b) => {
        const [textA, textB] = [formatStreamId(a), formatStreamId(b)];
        const [positionA, positionB] = [positionFromStreamId(textA), positionFromStreamId(textB)];
        expect(streamIdFromPosition(positionA)).toBe(textA);
        expect(Math.sign(compareStreamIds(a, b))).toBe(
          positionA < positionB ? -1 : positionA > positionB ? 1 : 0,
        );
      }),
      { numRuns: 2000 },
    );
  });

  it('steps to the neighbouring IDs', () => {
    fc.assert(
      fc.property(streamId, (id) => {
        if (id.ms === 0n && id.seq === 0n) return;
        expect(successor(predecessor(id))).toEqual(id);
        expect(compareStreamIds(predecessor(id), id)).toBe(-1);
        expect(compareStreamIds(successor(id), id)).toBe(1);
      }),
    );
    expect(formatStreamId(predecessor(parseStreamId('10-0')))).toBe(`9-${MAX_PART}`);
  });
});

describe('Redis batch bounds', () => {
  it('fills a batch up to the byte bound and sends an oversized entry alone', () => {
    expect(fitBatch([1000, 1000, 1000], 2500)).toBe(2);
    expect(fitBatch([9000, 10], 5000)).toBe(1);
    expect(fitBatch([], 5000)).toBe(0);
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 10_000 }), { minLength: 1 }),
        fc.integer({ min: 1, max: 20_000 }),
        (sizes, max) => {
          const taken = fitBatch(sizes, max);
          expect(taken).toBeGreaterThanOrEqual(1);
          const bytes = sizes.slice(0, taken).reduce((a, b) => a + b, 0);
          if (taken > 1) expect(bytes).toBeLessThanOrEqual(max);
          if (taken < sizes.length) expect(bytes + sizes[taken]!).toBeGreaterThan(max);
        },
      ),
    );
  });
});

describe('Redis log', () => {
  const withLog = (title: string, fn: (log: Log, prefix: string) => Promise<void>) =>
    it(title, async (ctx) => {
      if (!(await redisUp())) ctx.skip();
      const prefix = uniquePrefix();
      const log = createRedisLog(REDIS_URL, { prefix });
      try {
        await fn(log, prefix);
      } finally {
        await log.close();
        await deleteKeys(prefix);
      }
    });
  const payload = (n: number) => ({ payload: randomBytes(n) });

  withLog('never trims past the lowest commit of any group unless forced', async (log) => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 29 }), fc.integer({ min: 0, max: 29 }), async (a, b) => {
        const topic = `trim-${randomBytes(4).toString('hex')}`;
        const positions = await log.append(
          topic,
          Array.from({ length: 30 }, () => payload(100)),
        );
        await log.commit('a', topic, positions[a]!);
        await log.commit('b', topic, positions[b]!);
        const lowest = Math.min(a, b);
        expect(await log.applyRetention(topic, { maxBytes: 0 })).toBe(lowest + 1);
        await log.applyRetention(topic, { maxAgeMs: 0 });
        const kept = await collect(log, topic, 'earliest');
        expect(kept.map((e) => e.position)).toEqual(positions.slice(lowest + 1));
        expect(await log.lag('a', topic)).toBe(29 - a);
        await log.applyRetention(topic, { maxBytes: 0, force: true });
        expect(await collect(log, topic, 'earliest')).toEqual([]);
        expect((await log.stats(topic)).entries).toBe(0);
      }),
      { numRuns: 8 },
    );
  });

  withLog('trims by size to about the requested bytes', async (log) => {
    const topic = 'by-size';
    await log.append(
      topic,
      Array.from({ length: 100 }, () => payload(1000)),
    );
    const before = await log.stats(topic);
    const dropped = await log.applyRetention(topic, { maxBytes: Math.floor(before.bytes / 2) });
    const after = await log.stats(topic);
    expect(dropped).toBeGreaterThan(30);
    expect(dropped).toBeLessThan(70);
    expect(after.entries).toBe(100 - dropped);
    expect(after.last).toBe(before.last);
    expect(after.first! > before.first!).toBe(true);
  });

  withLog('reports stats and lag from the stream', async (log) => {
    const topic = 'stats';
    const positions = await log.append(
      topic,
      Array.from({ length: 12 }, () => payload(500)),
    );
    const stats = await log.stats(topic);
    expect(stats).toMatchObject({ topic, entries: 12, first: positions[0], last: positions[11] });
    expect(stats.bytes).toBeGreaterThan(12 * 500);
    await log.commit('g', topic, positions[11]!);
    expect(await log.lag('g', topic)).toBe(0);
    await log.commit('g', topic, positions[2]!); // moving back for a replay is allowed
    expect(await log.lag('g', topic)).toBe(9);
    expect(await log.topics()).toEqual([topic]);
  });

  withLog('counts lag and trims by size across many server-side pages', async (log) => {
    const topic = 'many';
    const positions: bigint[] = [];
    for (let i = 0; i < 45; i++)
      positions.push(
        ...(await log.append(
          topic,
          Array.from({ length: 1000 }, () => payload(8)),
        )),
      );
    expect(await log.lag('g', topic)).toBe(45_000);
    await log.commit('g', topic, positions[1_234]!);
    expect(await log.lag('g', topic)).toBe(45_000 - 1_235);
    await log.commit('g', topic, positions[44_000]!);
    const stats = await log.stats(topic);
    const dropped = await log.applyRetention(topic, { maxBytes: Math.floor(stats.bytes / 10) });
    expect(dropped).toBeGreaterThan(35_000);
    expect((await log.stats(topic)).first).toBe(positions[dropped]);
  });

  withLog('keeps keys and headers exactly, including awkward ones', async (log) => {
    const topic = 'headers';
    // Parsed, not written as a literal, so __proto__ is an own header rather than the prototype.
    const headers = JSON.parse('{"__proto__":"not a prototype","ünïcode":"✓","empty":""}') as Record<
      string,
      string
    >;
    await log.append(topic, [
      { key: 'κλειδί', headers, payload: new Uint8Array([0, 255, 13, 10]) },
      { key: '', payload: new Uint8Array() },
    ]);
    const [first, second] = await collect(log, topic, 'earliest');
    expect(first!.key).toBe('κλειδί');
    expect(Object.entries(first!.headers)).toEqual(Object.entries(headers));
    expect([...first!.payload]).toEqual([0, 255, 13, 10]);
    expect(second).toMatchObject({ key: '', headers: {} });
  });

  withLog('does not stall appends while a reader waits for new entries', async (log, prefix) => {
    const topic = 'stall';
    await log.append(topic, [payload(10)]);
    const controller = new AbortController();
    let received = 0;
    const reading = (async () => {
      for await (const batch of log.read(topic, { from: 'latest', signal: controller.signal }))
        received += batch.length;
    })();
    await readerBlocked(prefix);
    const started = performance.now();
    for (let i = 0; i < 10; i++) await log.append(topic, [payload(10)]);
    expect(performance.now() - started).toBeLessThan(900);
    await until(() => received >= 10, 'the reader to receive the ten entries');
    controller.abort();
    await reading;
    expect(received).toBe(10);
  });

  withLog('ends a blocked reader promptly when the log closes', async (log, prefix) => {
    const topic = 'prompt';
    await log.append(topic, [payload(10)]);
    const reading = (async () => {
      for await (const _ of log.read(topic, { from: 'latest' })) void _;
    })();
    await readerBlocked(prefix);
    const started = performance.now();
    await log.close();
    await reading;
    expect(performance.now() - started).toBeLessThan(500);
    await expect(log.append(topic, [payload(1)])).rejects.toBeInstanceOf(LogClosedError);
  });

  it('uses a client it is given and leaves it open', async (ctx) => {
    if (!(await redisUp())) ctx.skip();
    const prefix = uniquePrefix();
    const client = new Redis(REDIS_URL);
    try {
      const log = createRedisLog(client, { prefix });
      const [position] = await log.append('given', [{ payload: new Uint8Array([1]) }]);
      await log[Symbol.asyncDispose]();
      expect(client.status).toBe('ready');
      const again = createRedisLog(client, { prefix });
      expect((await collect(again, 'given', 'earliest')).map((e) => e.position)).toEqual([position]);
      await again.close();
    } finally {
      await deleteKeys(prefix);
      await client.quit();
    }
  });

  it('rejects an append it cannot deliver with a retriable LogUnavailableError', async () => {
    const port = await closedPort();
    const client = new Redis({
      host: '127.0.0.1',
      port,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on('error', () => {}); // the refused connection surfaces through the append below
    const log = createRedisLog(client, { prefix: uniquePrefix() });
    const failure = await log
      .append('down', [{ payload: new Uint8Array([1]) }])
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(LogUnavailableError);
    expect((failure as LogUnavailableError).retriable).toBe(true);
    expect((failure as LogUnavailableError).cause).toBeInstanceOf(Error);
    await log.close();
    client.disconnect();
  });

  /** The server's version as [major, minor]. */
  const serverVersion = async (client: Redis) => {
    const match = /redis_version:(\d+)\.(\d+)/.exec(await client.info('server'));
    return [Number(match?.[1]), Number(match?.[2])] as const;
  };
  const hasWaitAof = ([major, minor]: readonly [number, number]) => major > 7 || (major === 7 && minor >= 2);

  withLog(
    'rejects an append whose AOF fsync cannot be had, says why, and keeps the entry',
    async (_log, prefix) => {
      // A connection of the test's own turns AOF off, so WAITAOF with numLocal 1 cannot be satisfied
      // (a server older than 7.2 refuses WAITAOF whatever the setting).
      const admin = new Redis(REDIS_URL);
      const client = new Redis(REDIS_URL);
      const [, appendonly] = (await admin.config('GET', 'appendonly')) as [string, string];
      try {
        if (appendonly !== 'no') await admin.config('SET', 'appendonly', 'no');
        const log = createRedisLog(client, {
          prefix,
          waitAof: { numLocal: 1, numReplicas: 0, timeoutMs: 100 },
        });
        const failure = await log
          .append('aof', [{ payload: new Uint8Array([1]) }])
          .catch((error: unknown) => error);
        expect(failure).toBeInstanceOf(LogUnavailableError);
        expect((failure as Error).message).toMatch(/WAITAOF was refused/);
        expect((failure as LogUnavailableError).retriable).toBe(false);
        expect((failure as Error).cause).toBeInstanceOf(Error);
        // Written but not acknowledged: at-least-once, a retry may store it twice.
        expect(await collect(log, 'aof', 'earliest')).toHaveLength(1);
        await log.close();
      } finally {
        if (appendonly !== 'no') await admin.config('SET', 'appendonly', appendonly);
        await admin.quit();
        await client.quit();
      }
    },
  );

  it('waits for the AOF fsyncs it asks for, and rejects as retriable when replicas fall short', async (ctx) => {
    if (!(await redisUp())) ctx.skip();
    const client = new Redis(REDIS_URL);
    const prefix = uniquePrefix();
    try {
      const version = await serverVersion(client);
      if (!hasWaitAof(version)) {
        console.warn(
          `skipping: Redis ${version.join('.')} has no WAITAOF (7.2+); the reply handling is tested below`,
        );
        ctx.skip();
      }
      const none = createRedisLog(client, {
        prefix,
        waitAof: { numLocal: 0, numReplicas: 0, timeoutMs: 100 },
      });
      await expect(none.append('aof', [{ payload: new Uint8Array([1]) }])).resolves.toHaveLength(1);
      // No replica is attached, so one replica's fsync never comes within the timeout.
      const replica = createRedisLog(client, {
        prefix,
        waitAof: { numLocal: 0, numReplicas: 1, timeoutMs: 100 },
      });
      const failure = await replica
        .append('aof', [{ payload: new Uint8Array([2]) }])
        .catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(LogUnavailableError);
      expect((failure as LogUnavailableError).retriable).toBe(true);
      expect((failure as Error).message).toMatch(/0 of 1 replica AOF fsyncs within 100 ms/);
      await none.close();
      await replica.close();
    } finally {
      await deleteKeys(prefix);
      await client.quit();
    }
  });

  it('turns each WAITAOF reply into a result: enough, short (retriable), or not understood', async () => {
    // The replies of a 7.2+ server, for servers too old to give them.
    const replying = (reply: unknown) => ({ call: () => Promise.resolve(reply) }) as unknown as Redis;
    const options = { numLocal: 1, numReplicas: 1, timeoutMs: 100 };
    await expect(waitForAof(replying([1, 2]), options)).resolves.toBeUndefined();
    const short = await waitForAof(replying([1, 0]), options).catch((error: unknown) => error);
    expect(short).toBeInstanceOf(LogUnavailableError);
    expect((short as LogUnavailableError).retriable).toBe(true);
    expect((short as Error).message).toMatch(/1 of 1 local and 0 of 1 replica/);
    await expect(waitForAof(replying([0, 1]), options)).rejects.toBeInstanceOf(LogUnavailableError);
    await expect(waitForAof(replying('OK'), options)).rejects.toBeInstanceOf(UnexpectedReplyError);
  });
});

/** A port nothing listens on: one the kernel just handed out and we released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}
