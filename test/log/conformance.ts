import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Log, LogEntry, LogEntryInput, Position, ReadFrom } from '../../src/log/log.ts';
import { UnknownTopicError } from '../../src/log/errors.ts';

/** How a backend under test is opened; `open` may be called again after close to reopen the same log. */
export interface LogHarness {
  open(): Promise<Log>;
  cleanup(): Promise<void>;
  /** Largest payload the backend accepts by default. */
  maxPayloadBytes: number;
}

const text = (s: string) => new TextEncoder().encode(s);
const entry = (s: string, key?: string, headers?: Record<string, string>): LogEntryInput => ({
  payload: text(s),
  key,
  headers,
});
const payloadText = (e: LogEntry) => new TextDecoder().decode(e.payload);

export async function collect(
  log: Log,
  topic: string,
  from: ReadFrom,
  limit = Number.POSITIVE_INFINITY,
): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const batch of log.read(topic, { from, follow: false })) {
    out.push(...batch);
    if (out.length >= limit) break;
  }
  return out.slice(0, limit);
}

/** Waits until the wall clock has moved past `ms`, so a time seek has a clean boundary. */
async function clockPast(ms: number): Promise<number> {
  while (Date.now() <= ms + 1) await new Promise((resolve) => setImmediate(resolve));
  return Date.now();
}

/** The contract every Log backend must keep. */
export function logConformance(name: string, makeHarness: () => Promise<LogHarness | undefined>): void {
  describe(`Log conformance: ${name}`, () => {
    let harness: LogHarness | undefined;
    let log: Log;
    const topic = (label: string) => `t-${label}-${randomBytes(3).toString('hex')}`;

    beforeAll(async () => {
      harness = await makeHarness();
      if (harness) log = await harness.open();
    });
    afterAll(async () => {
      await log?.close();
      await harness?.cleanup();
    });

    const test = (title: string, fn: () => Promise<void>) =>
      it(title, async (ctx) => {
        if (!harness) ctx.skip();
        await fn();
      });

    test('keeps order, keys and headers, with strictly increasing positions', async () => {
      const t = topic('order');
      const positions: Position[] = [];
      for (let batch = 0; batch < 5; batch++) {
        const entries = Array.from({ length: 20 }, (_, i) =>
          entry(`${batch}:${i}`, `k${i % 3}`, { n: String(i), batch: String(batch) }),
        );
        positions.push(...(await log.append(t, entries)));
      }
      expect(positions).toHaveLength(100);
      for (let i = 1; i < positions.length; i++) expect(positions[i]! > positions[i - 1]!).toBe(true);
      const read = await collect(log, t, 'earliest');
      expect(read.map((e) => e.position)).toEqual(positions);
      expect(read.map(payloadText)).toEqual(
        Array.from({ length: 100 }, (_, i) => `${Math.floor(i / 20)}:${i % 20}`),
      );
      expect(read[7]).toMatchObject({ topic: t, key: 'k1', headers: { n: '7', batch: '0' } });
      expect(read.every((e) => e.timestamp > Date.now() - 60_000 && e.timestamp <= Date.now())).toBe(true);
      const fromMiddle = await collect(log, t, positions[42]!, 3);
      expect(fromMiddle.map(payloadText)).toEqual(['2:2', '2:3', '2:4']);
      const after = await collect(log, t, { after: positions[42]! }, 1);
      expect(after.map(payloadText)).toEqual(['2:3']);
    });

    test('loses nothing across close and reopen', async () => {
      const t = topic('reopen');
      const positions = await log.append(t, [entry('a'), entry('b'), entry('c')]);
      await log.close();
      log = await harness!.open();
      expect((await collect(log, t, 'earliest')).map((e) => [e.position, payloadText(e)])).toEqual([
        [positions[0], 'a'],
        [positions[1], 'b'],
        [positions[2], 'c'],
      ]);
      const more = await log.append(t, [entry('d')]);
      expect(more[0]! > positions[2]!).toBe(true);
    });

    test('resumes a consumer group from its committed position after reopening', async () => {
      const t = topic('groups');
      const positions = await log.append(
        t,
        Array.from({ length: 10 }, (_, i) => entry(`e${i}`)),
      );
      expect(await log.committed('g', t)).toBeUndefined();
      expect(await log.lag('g', t)).toBe(10);
      await log.commit('g', t, positions[3]!);
      await log.commit('other', t, positions[8]!);
      await log.close();
      log = await harness!.open();
      const committed = await log.committed('g', t);
      expect(committed).toBe(positions[3]);
      expect(await log.lag('g', t)).toBe(6);
      expect(await log.lag('other', t)).toBe(1);
      const rest = await collect(log, t, { after: committed! });
      expect(rest.map(payloadText)).toEqual(['e4', 'e5', 'e6', 'e7', 'e8', 'e9']);
    });

    test('seeks by time', async () => {
      const t = topic('time');
      await log.append(t, [entry('old1'), entry('old2')]);
      const last = (await collect(log, t, 'earliest')).at(-1)!.timestamp;
      const boundary = await clockPast(last);
      await log.append(t, [entry('new1'), entry('new2')]);
      expect((await collect(log, t, new Date(boundary))).map(payloadText)).toEqual(['new1', 'new2']);
      expect((await collect(log, t, new Date(0))).map(payloadText)).toEqual(['old1', 'old2', 'new1', 'new2']);
      expect(await collect(log, t, new Date(Date.now() + 60_000))).toEqual([]);
    });

    test('takes concurrent appenders without losing or reordering their entries', async () => {
      const t = topic('concurrent');
      const appenders = 16;
      const rounds = 25;
      const acknowledged = await Promise.all(
        Array.from({ length: appenders }, async (_, a) => {
          const mine: Position[] = [];
          for (let r = 0; r < rounds; r++)
            mine.push(...(await log.append(t, [entry(`${a}:${r}`, `appender-${a}`)])));
          return mine;
        }),
      );
      const all = acknowledged.flat();
      expect(new Set(all.map(String)).size).toBe(appenders * rounds);
      const read = await collect(log, t, 'earliest');
      expect(read).toHaveLength(appenders * rounds);
      for (let a = 0; a < appenders; a++) {
        const mine = read.filter((e) => e.key === `appender-${a}`).map(payloadText);
        expect(mine).toEqual(Array.from({ length: rounds }, (_, r) => `${a}:${r}`));
      }
    });

    test('round-trips large payloads byte for byte', async () => {
      const t = topic('large');
      const big = randomBytes(Math.min(harness!.maxPayloadBytes - 4096, 4 * 1024 * 1024));
      const small = randomBytes(10);
      await log.append(t, [{ payload: big }, { payload: small }, { payload: new Uint8Array(0) }]);
      const read = await collect(log, t, 'earliest');
      expect(Buffer.from(read[0]!.payload).equals(big)).toBe(true);
      expect(Buffer.from(read[1]!.payload).equals(small)).toBe(true);
      expect(read[2]!.payload.byteLength).toBe(0);
    });

    test('bounds batches by entries and bytes', async () => {
      const t = topic('bounds');
      await log.append(
        t,
        Array.from({ length: 50 }, () => ({ payload: randomBytes(1000) })),
      );
      const sizes: number[] = [];
      for await (const batch of log.read(t, {
        from: 'earliest',
        follow: false,
        maxBatchEntries: 8,
        maxBatchBytes: 5_000,
      })) {
        sizes.push(batch.length);
        expect(batch.length).toBeLessThanOrEqual(8);
      }
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(50);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(5);
    });

    test('accepts an empty batch and names an unknown topic', async () => {
      const t = topic('empty');
      const listed = topic('listed');
      expect(await log.append(t, [])).toEqual([]);
      await log.append(listed, [entry('x')]);
      await expect(collect(log, topic('never'), 'earliest')).rejects.toBeInstanceOf(UnknownTopicError);
      await expect(log.commit('g', topic('never'), 0n)).rejects.toBeInstanceOf(UnknownTopicError);
      // An empty append creates nothing: the topic stays unknown, and unlisted.
      await expect(collect(log, t, 'earliest')).rejects.toBeInstanceOf(UnknownTopicError);
      const topics = await log.topics();
      expect(topics).toContain(listed);
      expect(topics).not.toContain(t);
    });

    test('creates a topic on append while a reader is still finding it unknown', async () => {
      const t = topic('race');
      const reading = collect(log, t, 'earliest').catch((error: unknown) => error);
      expect(await log.append(t, [entry('first')])).toHaveLength(1);
      const read = await reading;
      // The reader may have looked before or after the append made the topic: it either names
      // the topic unknown or reads what was there; never another error, never other entries.
      const outcome = Array.isArray(read)
        ? JSON.stringify(read.map(payloadText))
        : read instanceof UnknownTopicError
          ? `unknown ${read.topic}`
          : String(read);
      expect([`unknown ${t}`, '[]', '["first"]']).toContain(outcome);
      expect((await collect(log, t, 'earliest')).map(payloadText)).toEqual(['first']);
    });

    test('delivers new entries to a following reader, from latest', async () => {
      const t = topic('follow');
      await log.append(t, [entry('before')]);
      const controller = new AbortController();
      const seen: string[] = [];
      const reading = (async () => {
        for await (const batch of log.read(t, { from: 'latest', signal: controller.signal })) {
          seen.push(...batch.map(payloadText));
          if (seen.length >= 3) controller.abort();
        }
      })();
      await log.append(t, [entry('x')]);
      await log.append(t, [entry('y'), entry('z')]);
      await reading;
      expect(seen).toEqual(['x', 'y', 'z']);
    });

    test('ends readers and finishes in-flight appends on close', async () => {
      const t = topic('close');
      await log.append(t, [entry('one')]);
      const batches: string[][] = [];
      const reading = (async () => {
        for await (const batch of log.read(t, { from: 'earliest' })) batches.push(batch.map(payloadText));
      })();
      while (batches.length === 0) await new Promise((resolve) => setImmediate(resolve));
      const appending = log.append(t, [entry('two')]);
      await log.close();
      await log.close();
      await expect(appending).resolves.toHaveLength(1);
      await reading;
      log = await harness!.open();
      expect((await collect(log, t, 'earliest')).map(payloadText)).toEqual(['one', 'two']);
    });

    test('applies retention by age without dropping what a group has not committed', async () => {
      const t = topic('retention');
      const positions: Position[] = [];
      for (let i = 0; i < 20; i++) positions.push(...(await log.append(t, [{ payload: randomBytes(2000) }])));
      await log.commit('slow', t, positions[4]!);
      // Nothing is an hour old yet.
      expect(await log.applyRetention(t, { maxAgeMs: 3_600_000 })).toBe(0);
      expect(await collect(log, t, 'earliest')).toHaveLength(20);

      await clockPast((await collect(log, t, 'earliest')).at(-1)!.timestamp);
      const dropped = await log.applyRetention(t, { maxAgeMs: 0 });
      const kept = await collect(log, t, 'earliest');
      // Something went (a backend may keep more than asked, whole segments, never less)...
      expect(dropped).toBeGreaterThan(0);
      expect(kept.map((e) => e.position)).toEqual(positions.slice(20 - kept.length));
      expect(kept.length).toBe(20 - dropped);
      // ...but nothing after what "slow" committed.
      expect(kept[0]!.position <= positions[5]!).toBe(true);
      expect(await log.stats(t)).toMatchObject({
        entries: kept.length,
        first: kept[0]!.position,
        last: positions[19],
      });
      expect(await log.lag('slow', t)).toBe(15);

      // keepFrom holds entries back even when forced.
      const held = await log.applyRetention(t, { maxAgeMs: 0, force: true, keepFrom: positions[10]! });
      const afterHeld = await collect(log, t, 'earliest');
      expect(afterHeld.length).toBe(kept.length - held);
      expect(afterHeld[0]!.position <= positions[10]!).toBe(true);

      // Forced, retention goes past the group's commit.
      const forced = await log.applyRetention(t, { maxAgeMs: 0, force: true });
      const afterForce = await collect(log, t, 'earliest');
      expect(forced).toBeGreaterThan(0);
      expect(afterForce.length).toBe(afterHeld.length - forced);
      expect(afterForce.map((e) => e.position)).toEqual(positions.slice(20 - afterForce.length));
      expect(afterForce.length === 0 || afterForce[0]!.position > positions[10]!).toBe(true);
    });

    test('applies retention by size, oldest first', async () => {
      const t = topic('size');
      const positions: Position[] = [];
      for (let i = 0; i < 20; i++) positions.push(...(await log.append(t, [{ payload: randomBytes(2000) }])));
      const before = await log.stats(t);
      const dropped = await log.applyRetention(t, { maxBytes: Math.floor(before.bytes / 2) });
      const after = await log.stats(t);
      expect(dropped).toBeGreaterThan(0);
      expect(dropped).toBeLessThan(20);
      expect(after.bytes).toBeLessThan(before.bytes);
      expect(after).toMatchObject({ entries: 20 - dropped, first: positions[dropped], last: positions[19] });
      expect(await log.applyRetention(t, { maxBytes: before.bytes })).toBe(0);
    });
  });
}
