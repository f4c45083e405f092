import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JetStreamClient, JetStreamManager, JetStreamPublishOptions, PubAck } from '@nats-io/jetstream';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection, Payload } from '@nats-io/transport-node';
import { TimeoutError, connect, headers, nanos } from '@nats-io/transport-node';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogClosedError, LogUnavailableError } from '../../src/log/errors.ts';
import type { Log } from '../../src/log/log.ts';
import { isValidTopic } from '../../src/log/log.ts';
import { createNatsLog } from '../../src/log/nats/index.ts';
import { NatsNames, escapeName, unescapeName } from '../../src/log/nats/names.ts';
import { MessageIds, publishInOrder } from '../../src/log/nats/publish.ts';
import { NATS_URL, serviceAvailable } from '../support/services.ts';
import { dropNatsPrefix } from '../../src/log/nats/drop-prefix.ts';
import { StreamRecreatedError, StreamSettingsError } from '../../src/log/nats/stream-errors.ts';
import type { Labels, Metrics } from '../../src/observe/metrics.ts';
import { METRIC } from '../../src/observe/metrics.ts';
import { until } from '../support/until.ts';
import type { LogHarness } from './conformance.ts';
import { collect, logConformance } from './conformance.ts';

const text = (s: string) => new TextEncoder().encode(s);
const decoded = (e: { payload: Uint8Array }) => new TextDecoder().decode(e.payload);

/** Counts what a log reports as stream check failures, by topic and reason. */
function checkFailures(): Metrics & { failures: (topic: string, reason: string) => number } {
  const seen = new Map<string, number>();
  const key = (labels: Labels | undefined) => `${labels?.topic} ${labels?.reason}`;
  return {
    count(name, labels, value = 1) {
      if (name === METRIC.logStreamCheckFailures) seen.set(key(labels), (seen.get(key(labels)) ?? 0) + value);
    },
    observe() {},
    gauge() {},
    onScrape: () => () => {},
    failures: (topic, reason) => seen.get(`${topic} ${reason}`) ?? 0,
  };
}
const randomPrefix = () => `TFTEST_${randomBytes(4).toString('hex')}`;

/** Deletes every stream a prefix made: its topics and its committed-positions bucket. */
async function probe(): Promise<{ maxPayload: number } | undefined> {
  let maxPayload = 0;
  const up = await serviceAvailable('NATS JetStream', async () => {
    const nc = await connect({ servers: NATS_URL, timeout: 2000, maxReconnectAttempts: 0 });
    try {
      await jetstreamManager(nc);
      maxPayload = nc.info?.max_payload ?? 0;
    } finally {
      await nc.close();
    }
  });
  return up ? { maxPayload } : undefined;
}

logConformance('nats', async () => {
  const server = await probe();
  if (!server) return undefined;
  const prefix = randomPrefix();
  const harness: LogHarness = {
    open: () => createNatsLog(NATS_URL, { prefix }),
    cleanup: () => dropNatsPrefix(NATS_URL, prefix),
    maxPayloadBytes: server.maxPayload,
  };
  return harness;
});

describe('NATS JetStream log', () => {
  let available = false;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let log: Log;
  const prefix = randomPrefix();
  const names = new NatsNames(prefix);
  const topic = (label: string) => `n-${label}-${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    available = (await probe()) !== undefined;
    if (!available) return;
    nc = await connect({ servers: NATS_URL });
    jsm = await jetstreamManager(nc);
    log = await createNatsLog(nc, { prefix });
  });
  afterAll(async () => {
    if (!available) return;
    await log.close();
    await dropNatsPrefix(NATS_URL, prefix);
    await nc.close();
  });

  const test = (title: string, fn: () => Promise<void>) =>
    it(title, async (ctx) => {
      if (!available) ctx.skip();
      await fn();
    });

  it('escapes names reversibly and within stream-name limits', () => {
    expect(escapeName('t-order-ab12')).toBe('t-order-ab12');
    expect(escapeName('a.b_c')).toBe('a_2eb_5fc');
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 80 }), (name) => {
        const token = escapeName(name);
        expect(token).toMatch(/^[A-Za-z0-9_-]*$/);
        if (token.length <= 200) expect(unescapeName(token)).toBe(name);
      }),
    );
    const long = `x${'.'.repeat(199)}`;
    const a = escapeName(long);
    const b = escapeName(`${long.slice(0, -1)}_`);
    expect(a.length).toBeLessThanOrEqual(200);
    expect(a).not.toBe(b);
    expect(unescapeName(a)).toBeUndefined();
  });

  test('maps a topic to its own stream and subject, and lists it by its original name', async () => {
    const odd = [`a.b_c-D.9.${randomBytes(2).toString('hex')}`, `${'z.'.repeat(99)}z`];
    for (const t of odd) expect(isValidTopic(t)).toBe(true);
    for (const t of odd) await log.append(t, [{ payload: text(t) }]);
    expect(await log.topics()).toEqual(expect.arrayContaining(odd));
    const sorted = await log.topics();
    expect(sorted).toEqual([...sorted].sort());
    const info = await jsm.streams.info(names.stream(odd[0]!));
    expect(info.config).toMatchObject({
      subjects: [names.subject(odd[0]!)],
      description: `tierflow topic ${odd[0]}`,
      storage: 'file',
      retention: 'limits',
    });
    expect(info.config.name).not.toMatch(/[.*> ]/);
    const long = await jsm.streams.info(names.stream(odd[1]!));
    expect(long.config.name.length).toBeLessThanOrEqual(255);
    expect((await collect(log, odd[1]!, 'earliest')).map((e) => new TextDecoder().decode(e.payload))).toEqual(
      [odd[1]],
    );
  });

  test('keeps any key and header names and values exactly', async () => {
    const t = topic('headers');
    const headers = {
      'Content-Type': 'x',
      'content-type': 'y',
      'with space': ' padded ',
      'a:b': 'line\r\nbreak',
      ünï: '✓ 😀',
      empty: '',
    };
    await log.append(t, [
      { key: ' spaced key/ü ', headers, payload: text('1') },
      { key: '', payload: text('2') },
      { payload: text('3') },
    ]);
    const [one, two, three] = await collect(log, t, 'earliest');
    expect(one).toMatchObject({ key: ' spaced key/ü ', headers });
    expect(two).toMatchObject({ key: '', headers: {} });
    expect(three).toMatchObject({ key: undefined, headers: {} });
  });

  test('stores a retried publish once, thanks to its Nats-Msg-Id', async () => {
    const t = topic('dedup');
    await log.append(t, [{ payload: text('first') }]);
    const real = jetstream(nc);
    let calls = 0;
    // The second publish is stored but its acknowledgement is "lost": the retry must get the same sequence.
    const lossy = Object.assign(Object.create(real) as JetStreamClient, {
      publish: async (
        subject: string,
        payload?: Payload,
        options?: Partial<JetStreamPublishOptions>,
      ): Promise<PubAck> => {
        const ack = await real.publish(subject, payload, options);
        calls += 1;
        if (calls === 2) throw new TimeoutError();
        return ack;
      },
    });
    const entries = ['a', 'b', 'c'].map((s) => ({ payload: text(s) }));
    const positions = await publishInOrder(lossy, names.subject(t), entries, new MessageIds(), {
      timeoutMs: 2000,
      retries: 2,
      maxPayload: nc.info?.max_payload ?? 0,
    });
    expect(calls).toBe(4);
    expect(positions).toEqual([2n, 3n, 4n]);
    const read = await collect(log, t, 'earliest');
    expect(read.map((e) => new TextDecoder().decode(e.payload))).toEqual(['first', 'a', 'b', 'c']);
  });

  test('refuses a call with an entry larger than max_payload before sending any of it', async () => {
    const t = topic('too-large');
    await log.append(t, [{ payload: text('kept') }]);
    const tooLarge = new Uint8Array(nc.info?.max_payload ?? 0);
    const attempt = log.append(t, [{ payload: text('not sent') }, { payload: tooLarge }]);
    await expect(attempt).rejects.toBeInstanceOf(LogUnavailableError);
    await expect(attempt).rejects.toMatchObject({ retriable: false });
    expect((await collect(log, t, 'earliest')).map((e) => new TextDecoder().decode(e.payload))).toEqual([
      'kept',
    ]);
  });

  test('drops the oldest entries down to maxBytes, and no more', async () => {
    const t = topic('bytes');
    for (let i = 0; i < 20; i++) await log.append(t, [{ key: `k${i}`, payload: randomBytes(1000) }]);
    const before = await log.stats(t);
    const maxBytes = Math.floor(before.bytes / 2);
    const dropped = await log.applyRetention(t, { maxBytes });
    const after = await log.stats(t);
    expect(after.bytes).toBeLessThanOrEqual(maxBytes);
    expect(after.entries).toBe(20 - dropped);
    // One entry fewer dropped would have stayed above the limit.
    expect(after.bytes + before.bytes / 20).toBeGreaterThan(maxBytes);
    expect(after.last).toBe(before.last);
  });

  test('keeps committed positions in a KV-shaped bucket and computes lag after retention', async () => {
    const t = topic('kv');
    const positions = await log.append(
      t,
      Array.from({ length: 6 }, (_, i) => ({ payload: text(`e${i}`) })),
    );
    await log.commit('group.with dots', t, positions[1]!);
    const stored = await jsm.streams.getMessage(names.offsetsStream, {
      last_by_subj: names.offsetsSubject('group.with dots', t),
    });
    // The position, and the creation time of the stream it was taken from.
    const created = (await jsm.streams.info(names.stream(t))).created;
    expect(stored?.string()).toBe(`${positions[1]} ${created}`);
    expect(await log.committed('group.with dots', t)).toBe(positions[1]);
    expect(await log.lag('group.with dots', t)).toBe(4);
    await log.applyRetention(t, { maxAgeMs: 0, force: true });
    expect(await log.lag('group.with dots', t)).toBe(0);
    expect(await log.stats(t)).toMatchObject({ entries: 0, first: undefined, last: undefined });
    const later = await log.append(t, [{ payload: text('later') }]);
    expect(later[0]! > positions[5]!).toBe(true);
    expect(await log.lag('group.with dots', t)).toBe(1);
    expect(await log.lag('never-committed', t)).toBe(1);
  });

  test('fails loudly instead of skipping when a stream was deleted and created again', async () => {
    const t = topic('recreated');
    const metrics = checkFailures();
    const first = await createNatsLog(nc, { prefix, metrics });
    const old = await first.append(
      t,
      ['a', 'b', 'c', 'd', 'e'].map((s) => ({ payload: text(s) })),
    );
    await first.commit('g', t, old[3]!);
    await jsm.streams.delete(names.stream(t));
    // Another process appends first: the stream is created again and numbers from 1.
    const other = await createNatsLog(nc, { prefix, metrics });
    expect(await other.append(t, [{ payload: text('new 1') }, { payload: text('new 2') }])).toEqual([1n, 2n]);
    // Resuming "g" after 4 would skip the new stream's first four entries: refused, whoever asks.
    await expect(other.committed('g', t)).rejects.toBeInstanceOf(StreamRecreatedError);
    await expect(other.committed('g', t)).rejects.toMatchObject({ code: 'LOG_STREAM_RECREATED', topic: t });
    await expect(other.lag('g', t)).rejects.toBeInstanceOf(StreamRecreatedError);
    await expect(other.applyRetention(t, { maxAgeMs: 0 })).rejects.toBeInstanceOf(StreamRecreatedError);
    expect(await other.stats(t)).toMatchObject({ entries: 2 });
    // The process that used the old stream: its appends land at lower sequences than before,
    // and every look-up sees another stream.
    await expect(first.append(t, [{ payload: text('late') }])).rejects.toBeInstanceOf(StreamRecreatedError);
    await expect(first.stats(t)).rejects.toBeInstanceOf(StreamRecreatedError);
    await expect(first.commit('g', t, 1n)).rejects.toBeInstanceOf(StreamRecreatedError);
    expect(metrics.failures(t, 'recreated')).toBeGreaterThanOrEqual(7);
    // A commit from before positions were stamped, beyond the stream's end, is refused too.
    const js = jetstream(nc);
    await js.publish(names.offsetsSubject('unstamped', t), text('9'));
    await expect(other.committed('unstamped', t)).rejects.toBeInstanceOf(StreamRecreatedError);
    // An operator resets the group (`nats kv del`): it has no position, and starts over.
    const reset = headers();
    reset.set('KV-Operation', 'DEL');
    await js.publish(names.offsetsSubject('g', t), new Uint8Array(), { headers: reset });
    expect(await other.committed('g', t)).toBeUndefined();
    await other.commit('g', t, 1n);
    expect(await other.committed('g', t)).toBe(1n);
    expect(await other.lag('g', t)).toBe(2);
    await first.close();
    await other.close();
  });

  test('does not create again a stream this process was using', async () => {
    const t = topic('gone');
    const metrics = checkFailures();
    const mine = await createNatsLog(nc, { prefix, metrics, publishRetries: 0 });
    await mine.append(t, [{ payload: text('kept until deleted') }]);
    await jsm.streams.delete(names.stream(t));
    await expect(mine.append(t, [{ payload: text('1') }])).rejects.toBeInstanceOf(StreamRecreatedError);
    await expect(mine.append(t, [{ payload: text('2') }])).rejects.toBeInstanceOf(StreamRecreatedError);
    await expect(jsm.streams.info(names.stream(t))).rejects.toThrow(/stream not found/);
    expect(metrics.failures(t, 'recreated')).toBe(2);
    await mine.close();
  });

  test('ends a following reader with StreamRecreatedError when its stream is created again', async () => {
    const t = topic('reader');
    const reader = await createNatsLog(nc, { prefix });
    await reader.append(
      t,
      ['a', 'b', 'c'].map((s) => ({ payload: text(s) })),
    );
    const seen: string[] = [];
    const reading = (async () => {
      for await (const batch of reader.read(t, { from: 'earliest' })) seen.push(...batch.map(decoded));
    })().then(
      () => 'ended',
      (error: unknown) => error,
    );
    await until(() => seen.length === 3, 'the reader to take the first entries');
    await jsm.streams.delete(names.stream(t));
    await log.append(t, [{ payload: text('new 1') }]);
    expect(await reading).toBeInstanceOf(StreamRecreatedError);
    expect(seen).toEqual(['a', 'b', 'c']);
    await reader.close();
  });

  test('refuses a stream found with settings that drop entries, and takes one that is only more generous', async () => {
    const metrics = checkFailures();
    const mine = await createNatsLog(nc, { prefix, metrics });
    const limited = topic('limited');
    await jsm.streams.add({
      name: names.stream(limited),
      subjects: [names.subject(limited)],
      max_age: nanos(3_600_000),
      max_msgs: 1000,
    });
    const refused = await mine.append(limited, [{ payload: text('x') }]).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(StreamSettingsError);
    expect((refused as StreamSettingsError).problems).toEqual([
      'max_age is 3600 s',
      'max_msgs is 1000 with discard old',
    ]);
    await expect(mine.stats(limited)).rejects.toBeInstanceOf(StreamSettingsError);
    expect(metrics.failures(limited, 'settings')).toBe(2);
    expect((await jsm.streams.info(names.stream(limited))).state.messages).toBe(0);

    const generous = topic('generous');
    await jsm.streams.add({
      name: names.stream(generous),
      subjects: [names.subject(generous)],
      description: 'made by hand',
      duplicate_window: nanos(10 * 60_000),
      // A cap that refuses appends when reached, instead of dropping entries.
      max_bytes: 1024 * 1024 * 1024,
      discard: 'new',
    });
    expect(await mine.append(generous, [{ payload: text('y') }])).toEqual([1n]);
    expect(metrics.failures(generous, 'settings')).toBe(0);
    await mine.close();
  });

  test('leaves a connection it was given open, and refuses appends once closed', async () => {
    const t = topic('borrowed');
    const other = await createNatsLog(nc, { prefix });
    await other.append(t, [{ payload: text('x') }]);
    await other.close();
    await other.close();
    expect(nc.isClosed()).toBe(false);
    await expect(other.append(t, [{ payload: text('y') }])).rejects.toBeInstanceOf(LogClosedError);
    expect((await collect(log, t, 'earliest')).length).toBe(1);
  });

  test('ends a following reader when its signal aborts while it waits', async () => {
    const t = topic('abort');
    await log.append(t, [{ payload: text('only') }]);
    const controller = new AbortController();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const batch of log.read(t, { from: 'earliest', signal: controller.signal })) {
        seen.push(...batch.map((e) => new TextDecoder().decode(e.payload)));
      }
    })();
    await until(() => seen.length > 0, 'the reader to take the entry');
    controller.abort();
    await reading;
    expect(seen).toEqual(['only']);
  });
});

/** A nats-server of the test's own, on a free port, that the test may kill -9 and restart. */
async function ownServer(
  binary: string,
): Promise<{ url: string; start(): Promise<void>; kill(): void; remove(): Promise<void> }> {
  const port = await new Promise<number>((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
  const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-nats-'));
  let child: ChildProcess | undefined;
  const url = `nats://127.0.0.1:${port}`;
  return {
    url,
    async start() {
      child = spawn(binary, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: 'ignore' });
      await until(
        async () => {
          try {
            const nc = await connect({ servers: url, timeout: 500, maxReconnectAttempts: 0 });
            await nc.close();
            return true;
          } catch {
            return false;
          }
        },
        `nats-server to start on ${url}`,
        10_000,
      );
    },
    kill() {
      child?.kill('SIGKILL');
    },
    async remove() {
      child?.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe('NATS JetStream log across a server crash', () => {
  const binary = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

  it('loses no acknowledged entry to kill -9 of the server, and its reader resumes in order', async (ctx) => {
    if (!existsSync(binary)) ctx.skip();
    const server = await ownServer(binary);
    try {
      await server.start();
      const log = await createNatsLog(server.url, { prefix: 'CRASH', publishTimeoutMs: 1000 });
      const t = 'crash';
      const acked: bigint[] = [...(await log.append(t, [{ payload: text('first') }]))];
      const seen: bigint[] = [];
      const controller = new AbortController();
      const reading = (async () => {
        for await (const batch of log.read(t, { from: 'earliest', signal: controller.signal })) {
          seen.push(...batch.map((e) => e.position));
        }
      })();
      let writing = true;
      const failures: unknown[] = [];
      const writer = (async () => {
        for (let i = 0; writing; i++) {
          try {
            acked.push(...(await log.append(t, [{ payload: text(`${i}a`) }, { payload: text(`${i}b`) }])));
          } catch (error) {
            failures.push(error);
            await sleep(100);
          }
        }
      })();
      const everyAckedSeen = () => {
        const seenSet = new Set(seen.map(String));
        return acked.every((p) => seenSet.has(String(p)));
      };
      try {
        // The crash comes under load: appends acknowledged and the reader taking them.
        await until(() => acked.length >= 100 && seen.length > 0, 'appends and reads to be under way');
        server.kill();
        const ackedBeforeCrash = acked.length;
        // The outage is real: appends fail while the server is down.
        await until(() => failures.length > 0, 'an append to fail while the server is down');
        await server.start();
        await until(
          () => acked.length >= ackedBeforeCrash + 50,
          'appends to be acknowledged after the restart',
        );
        writing = false;
        await writer;
        await until(everyAckedSeen, 'the reader to see every acknowledged entry');
      } finally {
        writing = false;
        controller.abort();
        await reading;
        await log.close();
      }

      expect(failures.every((e) => e instanceof LogUnavailableError && e.retriable)).toBe(true);
      const seenSet = new Set(seen.map(String));
      expect(seenSet.size).toBe(seen.length);
      expect(acked.filter((p) => !seenSet.has(String(p)))).toEqual([]);
      expect(seen).toEqual([...seen].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    } finally {
      await server.remove();
    }
  }, 60_000);
});
