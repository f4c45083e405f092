import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { LogClosedError, LogUnavailableError } from '../../src/log/errors.ts';
import type { Log, LogEntry } from '../../src/log/log.ts';
import { StreamIdRangeError, UnexpectedReplyError } from '../../src/log/redis/errors.ts';
import { waitForAof } from '../../src/log/redis/wait-aof.ts';
import { createRedisLog, redisTopicNumbering } from '../../src/log/redis/redis-log.ts';
import { dropRedisPrefix } from '../../src/log/redis/drop-prefix.ts';
import {
  DENSE_LIMIT,
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
  const LEGACY_MIN_MS = 1n << 21n;
  const denseId = fc.record({ ms: fc.constant(0n), seq: fc.bigInt({ min: 0n, max: DENSE_LIMIT - 1n }) });
  const legacyId = fc.record({
    ms: fc.bigInt({ min: LEGACY_MIN_MS, max: MAX_PART }),
    seq: fc.bigInt({ min: 0n, max: (1n << 22n) - 1n }),
  });
  const streamId = fc.oneof(denseId, legacyId);

  it('maps a dense ID 0-n to n, and a legacy one to ms × 2^22 + seq at or above 2^43', () => {
    expect(DENSE_LIMIT).toBe(1n << 43n);
    expect(positionFromStreamId('0-0')).toBe(0n);
    expect(positionFromStreamId('0-7')).toBe(7n);
    expect(positionFromStreamId('0-5000000')).toBe(5_000_000n); // beyond 2^22: still dense
    expect(streamIdFromPosition(5_000_000n)).toBe('0-5000000');
    expect(streamIdFromPosition(DENSE_LIMIT - 1n)).toBe(`0-${DENSE_LIMIT - 1n}`);
    expect(positionFromStreamId('1700000000000-5')).toBe(1_700_000_000_000n * 4_194_304n + 5n);
    expect(streamIdFromPosition(1_700_000_000_000n * 4_194_304n + 5n)).toBe('1700000000000-5');
    expect(streamIdFromPosition(DENSE_LIMIT)).toBe(`${LEGACY_MIN_MS}-0`);
  });

  it('refuses what neither numbering can hold', () => {
    expect(() => positionFromStreamId('1-0')).toThrow(StreamIdRangeError); // neither dense nor a real clock
    expect(() => positionFromStreamId(`${LEGACY_MIN_MS - 1n}-0`)).toThrow(StreamIdRangeError);
    expect(() => positionFromStreamId(`0-${DENSE_LIMIT}`)).toThrow(StreamIdRangeError);
    expect(() => positionFromStreamId(`1700000000000-${1n << 22n}`)).toThrow(StreamIdRangeError);
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
        expect(positionA < DENSE_LIMIT).toBe(a.ms === 0n);
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

describe('Redis dense numbering', () => {
  const withLog = (title: string, fn: (log: Log, prefix: string, admin: Redis) => Promise<void>) =>
    it(title, async (ctx) => {
      if (!(await redisUp())) ctx.skip();
      const prefix = uniquePrefix();
      const log = createRedisLog(REDIS_URL, { prefix });
      const admin = new Redis(REDIS_URL);
      try {
        await fn(log, prefix, admin);
      } finally {
        await log.close();
        await deleteKeys(prefix);
        await admin.quit();
      }
    });
  const entry = (text: string, key?: string) => ({ key, payload: Buffer.from(text) });
  const text = (e: LogEntry) => Buffer.from(e.payload).toString();
  const serverNow = async (client: Redis) => {
    const [seconds, micros] = (await client.time()).map(Number);
    return seconds! * 1000 + Math.floor(micros! / 1000);
  };
  /** Until the server's clock has passed `ms`. */
  const serverClockPast = async (client: Redis, ms: number) => {
    while ((await serverNow(client)) <= ms) await new Promise((resolve) => setTimeout(resolve, 1));
  };
  const expectNonDecreasing = (entries: readonly LogEntry[]) => {
    for (let i = 1; i < entries.length; i++)
      expect(entries[i]!.timestamp).toBeGreaterThanOrEqual(entries[i - 1]!.timestamp);
  };

  withLog(
    'numbers entries 1, 2, 3, … per topic, below 2^43, and never restarts the count',
    async (log, prefix, admin) => {
      const positions: bigint[] = [];
      for (let batch = 0; batch < 5; batch++)
        positions.push(
          ...(await log.append(
            'dense',
            Array.from({ length: 7 }, (_, i) => entry(`${batch}:${i}`)),
          )),
        );
      expect(positions).toEqual(Array.from({ length: 35 }, (_, i) => BigInt(i + 1)));
      expect(positions.every((p) => p < DENSE_LIMIT)).toBe(true);
      expect(await log.stats('dense')).toMatchObject({ entries: 35, first: 1n, last: 35n });
      expect((await collect(log, 'dense', 'earliest')).map((e) => e.position)).toEqual(positions);
      expect(await log.append('other', [entry('x')])).toEqual([1n]);
      expect(await redisTopicNumbering(log, 'dense')).toMatchObject({ numbering: 'dense' });
      // Retention empties the stream; the count goes on.
      await log.applyRetention('dense', { maxBytes: 0, force: true });
      expect((await log.stats('dense')).entries).toBe(0);
      expect(await log.append('dense', [entry('after the trim')])).toEqual([36n]);
      // Even with the stream key deleted, the record keeps the count: positions never go back.
      await admin.del(`${prefix}:topic:dense`);
      expect(await log.append('dense', [entry('after the delete')])).toEqual([37n]);
    },
  );

  withLog(
    'seeks by time across clock boundaries, with the times the server stamped',
    async (log, _prefix, admin) => {
      for (let round = 0; round < 12; round++) {
        await serverClockPast(admin, await serverNow(admin)); // each round in a later millisecond
        await log.append(
          'time',
          Array.from({ length: 1 + round * 5 }, (_, i) => entry(`${round}:${i}`)),
        );
      }
      const all = await collect(log, 'time', 'earliest');
      expect(all).toHaveLength(12 + 5 * 66);
      expectNonDecreasing(all);
      const times = [...new Set(all.map((e) => e.timestamp))];
      expect(times.length).toBeGreaterThanOrEqual(12);
      for (const time of times) {
        const expected = all.filter((e) => e.timestamp >= time).map(text);
        expect((await collect(log, 'time', new Date(time))).map(text)).toEqual(expected);
        // A time between two stamps lands on the next stamp.
        const between = all.filter((e) => e.timestamp > time).map(text);
        expect((await collect(log, 'time', new Date(time + 1))).map(text)).toEqual(between);
      }
      expect((await collect(log, 'time', new Date(times[0]! - 1))).map(text)).toEqual(all.map(text));
      expect(await collect(log, 'time', new Date(times.at(-1)! + 1))).toEqual([]);
      // With the front trimmed away, the search starts at the first entry left.
      const cut = all[100]!;
      await log.applyRetention('time', { maxAgeMs: 0, force: true, keepFrom: cut.position });
      expect((await collect(log, 'time', new Date(0))).map(text)).toEqual(all.slice(100).map(text));
      expect((await collect(log, 'time', new Date(times[0]!))).map(text)).toEqual(all.slice(100).map(text));
    },
  );

  withLog(
    'a reader from a time skips entries stamped before it, even those appended after it started',
    async (log, _prefix, admin) => {
      await log.append('future', [entry('old')]);
      const target = (await serverNow(admin)) + 300;
      const seen: string[] = [];
      const controller = new AbortController();
      const reading = (async () => {
        for await (const batch of log.read('future', { from: new Date(target), signal: controller.signal })) {
          seen.push(...batch.map(text));
          if (seen.length >= 2) controller.abort();
        }
      })();
      await log.append('future', [entry('early')]); // stamped before the target
      await serverClockPast(admin, target);
      await log.append('future', [entry('late1'), entry('late2')]);
      await reading;
      expect(seen).toEqual(['late1', 'late2']);
    },
  );

  withLog(
    'never stamps an entry earlier than the one before, even when the server clock goes back',
    async (log, prefix, admin) => {
      await log.append('clock', [entry('a')]);
      // The record of the last time stands in for a clock that ran a minute ahead and was set back.
      const ahead = (await serverNow(admin)) + 60_000;
      await admin.hset(`${prefix}:meta:clock`, 't', String(ahead));
      await log.append('clock', [entry('b'), entry('c')]);
      const read = await collect(log, 'clock', 'earliest');
      expect(read.map((e) => e.timestamp).slice(1)).toEqual([ahead, ahead]);
      expectNonDecreasing(read);
      expect((await collect(log, 'clock', new Date(ahead))).map(text)).toEqual(['b', 'c']);
    },
  );

  it('appends each batch atomically: appenders on two connections never split one', async (ctx) => {
    if (!(await redisUp())) ctx.skip();
    const prefix = uniquePrefix();
    const clients = [createRedisLog(REDIS_URL, { prefix }), createRedisLog(REDIS_URL, { prefix })];
    try {
      const rounds = 25;
      // Four appenders on each connection, batches of 1 to 13 entries, all at once.
      const acknowledged = await Promise.all(
        Array.from({ length: 8 }, async (_, a) => {
          const log = clients[a % 2]!;
          const batches: bigint[][] = [];
          for (let r = 0; r < rounds; r++) {
            const size = 1 + ((a * 5 + r * 7) % 13);
            batches.push(
              await log.append(
                'atomic',
                Array.from({ length: size }, (_, i) => entry(`${i}`, `${a}:${r}`)),
              ),
            );
          }
          return batches;
        }),
      );
      const batches = acknowledged.flat();
      for (const positions of batches)
        expect(positions).toEqual(positions.map((_, i) => positions[0]! + BigInt(i)));
      const all = batches.flat().sort((x, y) => (x < y ? -1 : 1));
      expect(all).toEqual(all.map((_, i) => BigInt(i + 1))); // dense: no gap, no duplicate
      const read = await collect(clients[0]!, 'atomic', 'earliest');
      expect(read).toHaveLength(all.length);
      expectNonDecreasing(read);
      // In the stream, each batch is one run of consecutive entries, in its own order.
      const runs: string[] = [];
      for (const e of read) if (runs.at(-1) !== e.key) runs.push(e.key!);
      expect(runs).toHaveLength(batches.length);
      for (const e of read.filter((x, i) => i === 0 || x.key !== read[i - 1]!.key)) expect(text(e)).toBe('0');
      // The appenders really did interleave, and across the two connections.
      const connectionOf = (key: string) => Number(key.split(':')[0]) % 2;
      expect(runs.some((key, i) => i > 0 && connectionOf(key) !== connectionOf(runs[i - 1]!))).toBe(true);
    } finally {
      for (const log of clients) await log.close();
      await deleteKeys(prefix);
    }
  });

  withLog('refuses an append that would number past 2^43, writing nothing', async (log, prefix, admin) => {
    await log.append('full', [entry('a')]);
    await admin.hset(`${prefix}:meta:full`, 'n', String(DENSE_LIMIT - 2n));
    const failure = await log.append('full', [entry('b'), entry('c')]).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(LogUnavailableError);
    expect((failure as Error).message).toMatch(/is full: positions must stay below 8796093022208/);
    expect(await admin.xlen(`${prefix}:topic:full`)).toBe(1);
    expect(await log.append('full', [entry('b')])).toEqual([DENSE_LIMIT - 1n]);
  });

  /** A stream as the log wrote them before dense numbering: IDs from the server clock, no time field. */
  const writeLegacy = async (admin: Redis, prefix: string, topic: string, texts: readonly string[]) => {
    await admin.sadd(`${prefix}:topics`, topic);
    for (const t of texts) await admin.xadd(`${prefix}:topic:${topic}`, '*', 'p', t);
  };

  withLog(
    'keeps a stream written before in its old numbering: reads, appends, seeks, commits, retention',
    async (log, prefix, admin) => {
      await writeLegacy(admin, prefix, 'legacy', ['a', 'b']);
      const before = await collect(log, 'legacy', 'earliest');
      expect(before.map(text)).toEqual(['a', 'b']);
      for (const e of before) {
        expect(e.position >= DENSE_LIMIT).toBe(true);
        expect(e.timestamp).toBe(Number(e.position >> 22n));
      }
      await serverClockPast(admin, before[1]!.timestamp);
      const appended = await log.append('legacy', [entry('c'), entry('d')]);
      expect(appended[0]! > before[1]!.position && appended[1]! > appended[0]!).toBe(true);
      // Appended with clock IDs and no time field, and no record: never two numberings in one stream.
      const ids = (await admin.xrange(`${prefix}:topic:legacy`, '-', '+')).map(([id]) => id);
      expect(ids.some((id) => id.startsWith('0-'))).toBe(false);
      expect(await admin.exists(`${prefix}:meta:legacy`)).toBe(0);
      expect(await redisTopicNumbering(log, 'legacy')).toMatchObject({ numbering: 'legacy' });
      const all = await collect(log, 'legacy', 'earliest');
      expect(all.map(text)).toEqual(['a', 'b', 'c', 'd']);
      expect((await collect(log, 'legacy', new Date(all[2]!.timestamp))).map(text)).toEqual(['c', 'd']);
      await log.commit('g', 'legacy', all[1]!.position);
      expect(await log.lag('g', 'legacy')).toBe(2);
      expect((await collect(log, 'legacy', { after: all[1]!.position })).map(text)).toEqual(['c', 'd']);
      // Emptied by retention, it is still a legacy stream.
      expect(await log.applyRetention('legacy', { maxAgeMs: 0, force: true })).toBe(4);
      expect(await redisTopicNumbering(log, 'legacy')).toMatchObject({ numbering: 'legacy' });
      const [next] = await log.append('legacy', [entry('e')]);
      expect(next! > appended[1]!).toBe(true);
    },
  );

  withLog(
    'names a dense stream an older tierflow appended to with clock IDs (a rolling upgrade), instead of failing with a bare XADD error',
    async (log, prefix, admin) => {
      await log.append('mixed', [entry('dense')]);
      // What a tierflow from before dense positions does: XADD with a clock ID, accepted as higher.
      await admin.xadd(`${prefix}:topic:mixed`, '*', 'p', 'old');
      await expect(log.append('mixed', [entry('next')])).rejects.toThrow(
        /mixed numbering: .*stop every older tierflow/,
      );
    },
  );

  withLog(
    'starts a legacy topic again densely once its keys are deleted, and not while a group holds an old position',
    async (log, prefix, admin) => {
      await writeLegacy(admin, prefix, 'migrate', ['a']);
      const [old] = await collect(log, 'migrate', 'earliest');
      await log.commit('g', 'migrate', old!.position);
      const found = await redisTopicNumbering(log, 'migrate');
      expect(found).toEqual({
        numbering: 'legacy',
        keys: [`${prefix}:topic:migrate`, `${prefix}:groups:migrate`, `${prefix}:meta:migrate`],
      });
      // Only the stream deleted: the group's old position would skip every new entry, so still legacy.
      await admin.del(`${prefix}:topic:migrate`);
      expect(await redisTopicNumbering(log, 'migrate')).toMatchObject({ numbering: 'legacy' });
      await admin.del(...found!.keys);
      expect(await redisTopicNumbering(log, 'migrate')).toMatchObject({ numbering: 'none' });
      expect(await log.append('migrate', [entry('b')])).toEqual([1n]);
      expect(await redisTopicNumbering(log, 'migrate')).toMatchObject({ numbering: 'dense' });
    },
  );
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
