import { Admin, ProduceAcks, Producer } from '@platformatic/kafka';
import type { MessageToProduce } from '@platformatic/kafka';
import { partitionBounds } from '../src/log/kafka/offsets.ts';
import { TOPIC_CONFIGS } from '../src/log/kafka/topics.ts';
import type { AppendOnce } from './append-load.ts';
import { closedLoop, openLoop, withCpu } from './append-load.ts';

/**
 * Bare producer loops of @platformatic/kafka, the client the Kafka log is built on: what the
 * backend is compared with in `bench log`, and the @platformatic/kafka half of `bench
 * kafka-clients`. Each appends one payload per call to a topic of its own (one partition, the
 * log's topic settings), always acks=all.
 */
export interface BareLoop {
  /** The part of a figure's name, e.g. `bare_acks_all`. */
  name: string;
  description: string;
  /**
   * Whether it is paced at 10,000 entries/s: not a loop that makes one request, so one broker
   * flush, per entry (a few hundred to ~1,300 a second here): its backlog would only grow.
   */
  paced: boolean;
  open(topic: string, payload: Buffer): Promise<BareAppender>;
}

export interface BareAppender {
  append: AppendOnce;
  /** Entries the topic holds (the high watermark): what was acknowledged should all be there. */
  stored(): Promise<number>;
  close(): Promise<void>;
}

type Message = MessageToProduce<Buffer, Buffer, Buffer, Buffer>;

/** Creates `topic` as the Kafka log would (one partition) and waits until it has a leader. */
export async function createBenchTopic(brokers: string[], topic: string): Promise<void> {
  const admin = new Admin({ clientId: 'tierflow-bench', bootstrapBrokers: brokers });
  try {
    await admin.createTopics({ topics: [topic], partitions: 1, replicas: -1, configs: TOPIC_CONFIGS });
    for (let attempt = 0; ; attempt++) {
      const metadata = await admin.metadata({ topics: [topic], forceUpdate: true }).catch(() => undefined);
      if (metadata?.topics.get(topic)?.partitions.every((p) => p.leader >= 0)) return;
      if (attempt >= 100) throw new Error(`bench topic ${topic} has no leader after 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await admin.close();
  }
}

/** Entries in partition 0 of `topic`. */
export async function storedEntries(brokers: string[], topic: string): Promise<number> {
  const admin = new Admin({ clientId: 'tierflow-bench', bootstrapBrokers: brokers });
  try {
    const { start, end } = (await partitionBounds(admin, topic, [0])).get(0)!;
    return Number(end - start);
  } finally {
    await admin.close();
  }
}

function producer(brokers: string[], idempotent: boolean): Producer {
  return new Producer({
    clientId: 'tierflow-bench-bare',
    bootstrapBrokers: brokers,
    acks: ProduceAcks.ALL,
    idempotent,
  });
}

/** Opens a producer on a fresh topic, with one send first (connections, producer id, metadata). */
async function opened(
  brokers: string[],
  topic: string,
  idempotent: boolean,
  payload: Buffer,
  appendWith: (p: Producer, message: Message) => AppendOnce,
): Promise<BareAppender> {
  await createBenchTopic(brokers, topic);
  const p = producer(brokers, idempotent);
  const message: Message = { topic, partition: 0, value: payload };
  await p.send({ messages: [message] });
  return {
    append: appendWith(p, message),
    stored: () => storedEntries(brokers, topic),
    close: () => p.close(),
  };
}

/**
 * Non-idempotent, acks=all: every append is its own send, all of them concurrent (the client
 * keeps up to its default of 5 requests in flight per connection and queues the rest). No entry
 * is lost this way, but a send retried after a lost answer can be stored twice.
 */
export const bareAcksAll = (brokers: string[]): BareLoop => ({
  name: 'bare_acks_all',
  paced: false,
  description: 'non-idempotent acks=all, one send per entry, all sends concurrent',
  open: (topic, payload) => opened(brokers, topic, false, payload, (p, m) => () => p.send({ messages: [m] })),
});

/**
 * Idempotent, acks=all, one send at a time (the client numbers an idempotent batch from the
 * sequence the last answered send left, so concurrent sends would share a sequence and the broker
 * would drop all but the first as duplicates), and the entries that queue while a send is out go
 * together in the next one: what a careful user of this client does by hand, without the Log.
 * After a send is answered the loop lets the appenders it released queue their next entries (one
 * turn of the event loop) before it takes the next group; taking at once sends the first of them
 * alone and the other 63 after it, halving the entries per send.
 */
export const bareIdempotentGrouped = (brokers: string[]): BareLoop => ({
  name: 'bare_idempotent_grouped',
  paced: true,
  description: 'idempotent acks=all, one send at a time carrying every entry queued meanwhile',
  open: (topic, payload) =>
    opened(brokers, topic, true, payload, (p, m) => {
      let queue: { resolve(): void; reject(error: unknown): void }[] = [];
      let sending = false;
      const pump = async () => {
        sending = true;
        while (queue.length > 0) {
          const group = queue;
          queue = [];
          try {
            await p.send({ messages: group.map(() => ({ ...m })) });
            for (const waiter of group) waiter.resolve();
          } catch (error) {
            for (const waiter of group) waiter.reject(error);
          }
          await new Promise((resolve) => setImmediate(resolve));
        }
        sending = false;
      };
      return () =>
        new Promise<void>((resolve, reject) => {
          queue.push({ resolve, reject });
          if (!sending) void pump();
        });
    }),
});

/** Idempotent, acks=all, one send at a time and one entry per send: bound by the round trip. */
export const bareIdempotentSerial = (brokers: string[]): BareLoop => ({
  name: 'bare_idempotent_serial',
  paced: false,
  description: 'idempotent acks=all, one send at a time, one entry per send',
  open: (topic, payload) =>
    opened(brokers, topic, true, payload, (p, m) => {
      let tail: Promise<unknown> = Promise.resolve();
      return () => {
        const sent = tail.then(() => p.send({ messages: [m] }));
        tail = sent.catch(() => undefined);
        return sent;
      };
    }),
});

export interface Measured {
  rate: number;
  /** NaN when the loop is slower than the pace (then it is not paced). */
  p50: number;
  p99: number;
  /** Client CPU per 1,000 entries in the throughput run (all of this process's threads), ms. */
  cpuPerThousand: number;
}

export interface MeasureOptions {
  /** Entries of the throughput run (it also stops after 10 s). */
  entries: number;
  payload: Buffer;
  appenders: number;
  /** Entries per second of the paced run, and its length. */
  rate: number;
  seconds: number;
  /** Where a topic that does not hold exactly what was acknowledged is reported. */
  problems: string[];
}

/** A bare loop's throughput run stops after this long (one entry per round trip is slow). */
const MAX_SECONDS = 10;

/**
 * Throughput of one bare loop (`appenders` concurrent, one entry per append), then latency at a
 * fixed pace on a fresh topic, each topic checked afterwards against what was acknowledged.
 */
export async function measureBare(
  loop: BareLoop,
  topic: (name: string) => string,
  options: MeasureOptions,
): Promise<Measured> {
  const check = async (appender: BareAppender, issued: number, what: string) => {
    const stored = await appender.stored();
    // One entry more: the send that opened the producer.
    if (stored !== issued + 1)
      options.problems.push(`${loop.name} ${what}: ${issued + 1} acknowledged, ${stored} in the topic`);
  };
  let appender = await loop.open(topic(`${loop.name}-rate`), options.payload);
  let rate: number;
  let cpuPerThousand: number;
  try {
    const { result, cpuMs } = await withCpu(() =>
      closedLoop(appender.append, {
        total: options.entries,
        appenders: options.appenders,
        maxSeconds: MAX_SECONDS,
      }),
    );
    rate = result.rate;
    cpuPerThousand = (cpuMs / result.issued) * 1000;
    await check(appender, result.issued, 'throughput');
  } finally {
    await appender.close();
  }
  if (!loop.paced) return { rate, cpuPerThousand, p50: Number.NaN, p99: Number.NaN };
  appender = await loop.open(topic(`${loop.name}-latency`), options.payload);
  try {
    const { p50, p99, issued } = await openLoop(appender.append, options.rate, options.seconds);
    await check(appender, issued, 'latency');
    return { rate, cpuPerThousand, p50, p99 };
  } finally {
    await appender.close();
  }
}
