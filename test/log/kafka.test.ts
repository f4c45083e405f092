import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertLogFitsPositions } from '../../src/cold/log-fits-positions.ts';
import { Admin } from '@platformatic/kafka';
import { ConfigError } from '../../src/core/index.ts';
import { LogUnavailableError } from '../../src/log/errors.ts';
import type { KafkaLogOptions } from '../../src/log/kafka/index.ts';
import { PartitionsChangedError, TopicRecreatedError } from '../../src/log/kafka/kafka-errors.ts';
import type { Log, ReadFrom } from '../../src/log/log.ts';
import { PartitionNotOwnedError } from '../../src/log/errors.ts';
import { partitionOfPosition, positionOf } from '../../src/log/partition-position.ts';
import { until } from '../support/until.ts';
import { createKafkaLog, dropKafkaPrefix } from '../../src/log/kafka/index.ts';
import { KAFKA_URL, pingKafka, serviceAvailable } from '../support/services.ts';
import type { LogHarness } from './conformance.ts';
import { collect, logConformance } from './conformance.ts';

const randomPrefix = () => `tftest-${randomBytes(4).toString('hex')}.`;

logConformance('kafka', async () => {
  if (!(await serviceAvailable('Kafka', pingKafka))) return undefined;
  const prefix = randomPrefix();
  const harness: LogHarness = {
    open: () => createKafkaLog(KAFKA_URL, { prefix }),
    cleanup: () => dropKafkaPrefix(KAFKA_URL, prefix),
    maxPayloadBytes: 8 * 1024 * 1024,
  };
  return harness;
});

describe('the Kafka log', () => {
  let up = false;
  const prefix = randomPrefix();
  const logs: Log[] = [];
  const open = async (extra: Omit<KafkaLogOptions, 'brokers'> = {}) => {
    const log = await createKafkaLog(KAFKA_URL, { prefix, ...extra });
    logs.push(log);
    return log;
  };
  beforeAll(async () => {
    up = await serviceAvailable('Kafka', pingKafka);
  });
  afterAll(async () => {
    for (const log of logs) await log.close();
    if (up) await dropKafkaPrefix(KAFKA_URL, prefix);
  });
  const test = (title: string, fn: () => Promise<void>) =>
    it(title, async (ctx) => {
      if (!up) ctx.skip();
      await fn();
    });
  const text = (s: string) => ({ payload: new TextEncoder().encode(s) });

  test('answers extent() from offsets, as stats() without the bytes', async () => {
    const log = await open();
    const positions = await log.append('extent', [text('a'), text('bb'), text('ccc')]);
    const stats = await log.stats('extent');
    expect(await log.extent!('extent')).toEqual({
      topic: 'extent',
      entries: 3,
      first: positions[0],
      last: positions[2],
    });
    expect(stats).toMatchObject({ entries: 3, first: positions[0], last: positions[2] });
    expect(stats.bytes).toBeGreaterThan(6);
  });

  test('refuses to acknowledge appends to a topic deleted and created again under it', async () => {
    const writer = await open();
    const other = await open();
    await writer.append('recreated', [text('one'), text('two')]);
    await dropKafkaPrefix(KAFKA_URL, `${prefix}recreated`);
    // Another process creates the topic again; offsets start over at 0.
    await until(async () => {
      try {
        await other.append('recreated', [text('new')]);
        return true;
      } catch {
        return false; // the deletion may not have finished on the broker yet
      }
    }, 'the topic to be created again');
    await expect(writer.append('recreated', [text('three')])).rejects.toBeInstanceOf(TopicRecreatedError);
  });

  test('fails only the append a topic refuses as too large, not those sent with it', async () => {
    const log = await open();
    // A topic made outside tierflow, with Kafka's stricter default message size.
    const admin = new Admin({
      clientId: 'tierflow-test',
      bootstrapBrokers: [KAFKA_URL.slice('kafka://'.length)],
    });
    try {
      await admin.createTopics({
        topics: [`${prefix}small`],
        partitions: 1,
        replicas: 1,
        configs: [{ name: 'max.message.bytes', value: '20000' }],
      });
    } finally {
      await admin.close();
    }
    // The first append is out when the next two queue, so those two travel in one send.
    const first = log.append('small', [text('first')]);
    const large = log.append('small', [{ payload: new Uint8Array(50_000) }]);
    const small = log.append('small', [text('small')]);
    await expect(first).resolves.toHaveLength(1);
    await expect(large).rejects.toBeInstanceOf(LogUnavailableError);
    await expect(small).resolves.toHaveLength(1);
    expect((await collect(log, 'small', 'earliest')).map((e) => new TextDecoder().decode(e.payload))).toEqual(
      ['first', 'small'],
    );
  });

  test('splits the partitions of a topic among the members of a group, and gives those of a leaver to the others', async () => {
    const log = await open({ partitions: 4 });
    // Entries routed by key and by explicit partition; each partition keeps its keys' order.
    const positions = await log.append('shared', [
      { ...text('p2'), partition: 2 },
      ...Array.from({ length: 20 }, (_, i) => ({ ...text(`k${i % 5}:${i}`), key: `k${i % 5}` })),
    ]);
    expect(partitionOfPosition(positions[0]!)).toBe(2);
    const a = await log.joinGroup!('sharing', 'shared', { sessionTimeoutMs: 6000 });
    await until(() => a.owned().length === 4, 'the first member to own every partition');
    const b = await log.joinGroup!('sharing', 'shared', { sessionTimeoutMs: 6000 });
    await until(
      () => a.owned().length === 2 && b.owned().length === 2,
      'the two members to split the partitions',
      30_000,
    );
    expect([...a.owned(), ...b.owned()].sort()).toEqual([0, 1, 2, 3]);
    // A member commits only what it owns; its commit shows per partition.
    const mine = a.owned()[0]!;
    const theirs = b.owned()[0]!;
    const read = await collect(log, 'shared', 'earliest');
    const last = (p: number) => read.filter((e) => partitionOfPosition(e.position) === p).at(-1)?.position;
    const entry = read.find((e) => partitionOfPosition(e.position) === mine)!;
    await a.commit(entry.position);
    expect(await log.committed('sharing', 'shared', mine)).toBe(entry.position);
    await expect(a.commit(positionOf(theirs, 0n))).rejects.toBeInstanceOf(PartitionNotOwnedError);
    // One partition's read holds that partition's entries only, in order.
    const only = await collect(log, 'shared', { after: entry.position } as ReadFrom, 100);
    expect(only.every((e) => partitionOfPosition(e.position) === mine)).toBe(true);
    expect(only.at(-1)?.position ?? entry.position).toBe(last(mine));
    await a.close();
    await until(() => b.owned().length === 4, "the leaver's partitions to move to the other member", 30_000);
    await b.close();
  });

  test('refuses appends once the partition count of a topic changed under it', async () => {
    const log = await open({ partitions: 2, metadataRefreshMs: 200 });
    await log.append('grown', [{ ...text('a'), key: 'k' }]);
    const admin = new Admin({
      clientId: 'tierflow-test',
      bootstrapBrokers: [KAFKA_URL.slice('kafka://'.length)],
    });
    try {
      await admin.createPartitions({ topics: [{ name: `${prefix}grown`, count: 3 }] });
    } finally {
      await admin.close();
    }
    // Appends alone (nothing else asks the broker) see the change once the topic is described again.
    let refused: unknown;
    await until(async () => {
      refused = await log.append('grown', [{ ...text('b'), key: 'k' }]).then(
        () => undefined,
        (error: unknown) => error,
      );
      return refused !== undefined;
    }, 'an append to be refused');
    expect(refused).toBeInstanceOf(PartitionsChangedError);
  });

  test('tells stage 2 a topic of several partitions is not for it, before it exists too; stage 1 takes it', async () => {
    const log = await open({ partitions: 3 });
    expect(await log.partitions!('not-yet')).toBe(3);
    await expect(assertLogFitsPositions(log, 'stage 2', 'not-yet')).rejects.toThrow(
      /has 3 partitions, and the WAL must be one total order/,
    );
    await log.append('split', [{ ...text('x'), key: 'k' }]);
    expect(await log.partitions!('split')).toBe(3);
    await expect(assertLogFitsPositions(log, 'stage 2', 'split')).rejects.toBeInstanceOf(ConfigError);
    // Stage 1's cold side shares the partitions through its consumer group (cold-partitions.test.ts).
    await expect(assertLogFitsPositions(log, 'stage 1', 'split')).resolves.toBeUndefined();
  });
});
