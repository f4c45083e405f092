import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaBroker } from '../../src/kafka-broker/index.ts';
import { LogUnavailableError } from '../../src/log/errors.ts';
import { createKafkaLog } from '../../src/log/kafka/index.ts';
import type { Log } from '../../src/log/log.ts';
import { SHARED_JAR_CACHE, freePortPair, ownBrokerAvailable } from '../support/kafka-broker.ts';
import { until } from '../support/until.ts';

const entry = (bytes: number) => ({ payload: new Uint8Array(bytes) });

/**
 * A broker that stops answering without closing its connections (SIGSTOP: a hung JVM, a network
 * that drops packets) turns appends into quick typed errors, not a wait without end: each append
 * has a deadline, and appends beyond the queue's byte limit are refused at once.
 */
describe('the Kafka log on a broker that hangs', () => {
  let available = false;
  let dir: string;
  let broker: KafkaBroker;
  let log: Log | undefined;
  beforeAll(async () => {
    available = await ownBrokerAvailable();
    if (!available) return;
    dir = await mkdtemp(path.join(tmpdir(), 'tierflow-kafka-hang-'));
    broker = new KafkaBroker({ dir: path.join(dir, 'broker'), port: await freePortPair() }, SHARED_JAR_CACHE);
    await broker.start();
  }, 120_000);
  afterAll(async () => {
    if (!available) return;
    const { pid } = await broker.status();
    if (pid) process.kill(pid, 'SIGCONT');
    await log?.close();
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('fails an append past its deadline and refuses one past the queue limit, then recovers', async (t) => {
    if (!available) return t.skip();
    log = await createKafkaLog(broker.url, {
      appendTimeoutMs: 3000,
      requestTimeoutMs: 2000,
      maxQueuedBytes: 100_000,
    });
    expect(await log.append('hang', [entry(10)])).toEqual([0n]);
    const { pid } = await broker.status();
    process.kill(pid!, 'SIGSTOP');
    try {
      const started = performance.now();
      const stuck = log.append('hang', [entry(60_000)]).catch((error: unknown) => error);
      const queued = log.append('hang', [entry(10)]).catch((error: unknown) => error);
      // 60 kB are out (sent, not counted) and 10 B wait: another 99,995 B would pass the 100 kB limit.
      const refused = await log.append('hang', [entry(99_995)]).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(LogUnavailableError);
      expect((refused as LogUnavailableError).retriable).toBe(true);
      expect((refused as Error).message).toMatch(/bytes of appends already wait/);
      for (const outcome of [await stuck, await queued]) {
        expect(outcome).toBeInstanceOf(LogUnavailableError);
        expect((outcome as LogUnavailableError).retriable).toBe(true);
      }
      // The deadline, not the client's 30 s default or a wait without end.
      expect(performance.now() - started).toBeLessThan(15_000);
    } finally {
      process.kill(pid!, 'SIGCONT');
    }
    // Once the broker answers again, appends go through; what timed out may have been written too.
    let positions: bigint[] | undefined;
    for (let attempt = 0; attempt < 20 && !positions; attempt++)
      positions = await log.append('hang', [entry(10)]).catch(() => undefined);
    expect(positions?.[0]).toBeGreaterThan(0n);
  }, 120_000);

  it('a group member gives its partitions up while it cannot reach the group, and takes them again after', async (t) => {
    if (!available) return t.skip();
    const partitioned = await createKafkaLog(broker.url, {
      partitions: 2,
      prefix: 'members.',
      requestTimeoutMs: 2000,
    });
    const seen: (readonly number[])[] = [];
    try {
      await partitioned.append('shared', [{ payload: new Uint8Array(1), key: 'k' }]);
      const member = await partitioned.joinGroup!('g', 'shared', { sessionTimeoutMs: 6000 });
      member.onAssignment((owned) => seen.push(owned));
      await until(() => member.owned().length === 2, 'the member to own both partitions');
      const { pid } = await broker.status();
      process.kill(pid!, 'SIGSTOP');
      try {
        // No heartbeat answers: once silent longer than a rebalance may take, the member owns
        // nothing, as the group would have decided by then; nothing ends the process.
        await until(() => member.owned().length === 0, 'the member to give its partitions up', 90_000);
      } finally {
        process.kill(pid!, 'SIGCONT');
      }
      await until(() => member.owned().length === 2, 'the member to join again', 60_000);
      expect(seen.some((owned) => owned.length === 0)).toBe(true);
      await member.close();
    } finally {
      await partitioned.close();
    }
  }, 120_000);
});
