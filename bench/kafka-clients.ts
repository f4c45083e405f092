import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import os from 'node:os';
import { Admin, ProduceAcks, Producer } from '@platformatic/kafka';
import { dropKafkaPrefix, parseKafkaSpec } from '../src/log/kafka/index.ts';
import type { BareAppender, BareLoop, Measured } from './kafka-bare.ts';
import {
  bareAcksAll,
  bareIdempotentGrouped,
  bareIdempotentSerial,
  createBenchTopic,
  measureBare,
  storedEntries,
} from './kafka-bare.ts';
import { KAFKA_URL } from './log-backends.ts';
import type { Figure } from './report.ts';
import { report } from './report.ts';

/**
 * `npm run bench -- kafka-clients`: the bare producer loops of the two maintained Kafka clients
 * for Node on the same broker, the same 200-byte payloads: appends/s with 64 appenders (one entry
 * per append, each awaiting its acknowledgement) and latency at a fixed 10,000 entries/s, always
 * acks=all.
 *  - @platformatic/kafka (the Log's client): idempotent with one send at a time carrying what
 *    queued meanwhile (the reference), non-idempotent with every send concurrent, idempotent one
 *    entry per send; and, to show what it loses, idempotent with every send concurrent.
 *  - @confluentinc/kafka-javascript (librdkafka), from $TIERFLOW_CONFLUENT_MODULE (it is not a
 *    dependency: no prebuilt binary can be downloaded here and it builds from source only with
 *    CKJS_LINKING=dynamic), else skipped: idempotent (librdkafka keeps sequences per batch
 *    and up to 5 requests in flight safely), every send concurrent, through its KafkaJS-style
 *    promise API, with librdkafka's default linger.ms (5) and with linger.ms=0.
 * Each loop runs on a topic of its own (created as the Kafka log creates its topics), and every
 * topic is checked afterwards to hold exactly what was acknowledged.
 */
const ENTRY = Buffer.alloc(200, 0x61);
const APPENDERS = 64;
const RATE = 10_000;
const ENTRIES = Number(process.env.BENCH_LOG_SERVER_ENTRIES ?? 50_000);
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 5);
const CONFLUENT_MODULE = process.env.TIERFLOW_CONFLUENT_MODULE;

/** The slice of @confluentinc/kafka-javascript's KafkaJS-style API used here. */
interface ConfluentModule {
  librdkafkaVersion: string;
  KafkaJS: {
    Kafka: new (config: Record<string, unknown>) => {
      producer(config: Record<string, unknown>): ConfluentProducer;
    };
  };
}
interface ConfluentProducer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  send(record: { topic: string; messages: { value: Buffer; partition: number }[] }): Promise<unknown>;
}

function confluentIdempotent(
  confluent: ConfluentModule,
  brokers: string[],
  lingerMs: number | undefined,
): BareLoop {
  const linger = lingerMs === undefined ? '' : `_linger${lingerMs}`;
  return {
    name: `confluent_idempotent${linger}`,
    paced: true,
    description:
      `idempotent acks=all, every send concurrent, linger.ms ` +
      `${lingerMs === undefined ? 'default (5)' : lingerMs}`,
    async open(topic, payload): Promise<BareAppender> {
      await createBenchTopic(brokers, topic);
      const producer = new confluent.KafkaJS.Kafka({}).producer({
        'bootstrap.servers': brokers.join(','),
        'client.id': 'tierflow-bench-confluent',
        'enable.idempotence': true,
        acks: -1,
        ...(lingerMs === undefined ? {} : { 'linger.ms': lingerMs }),
        log_level: 3,
      });
      await producer.connect();
      // send() rewrites the messages it is given: a new one each time.
      const append = () => producer.send({ topic, messages: [{ value: payload, partition: 0 }] });
      await append();
      return { append, stored: () => storedEntries(brokers, topic), close: () => producer.disconnect() };
    },
  };
}

/**
 * The pattern @platformatic/kafka 1.35 gets wrong, only to count what it does (never a reference):
 * one idempotent producer, 64 appenders each sending one entry at a time, all concurrent. The
 * client numbers each batch from the sequence the last answered send left, so concurrent batches
 * share sequence numbers: the broker answers some as duplicates (acknowledged, not written) and
 * refuses others as out of order.
 */
async function unsafeConcurrent(brokers: string[], topic: string): Promise<string> {
  const total = 5_000;
  await createBenchTopic(brokers, topic);
  const producer = new Producer({
    clientId: 'tierflow-bench-unsafe',
    bootstrapBrokers: brokers,
    acks: ProduceAcks.ALL,
    idempotent: true,
  });
  let issued = 0;
  let acknowledged = 0;
  const failures = new Map<string, number>();
  const started = performance.now();
  try {
    await Promise.all(
      Array.from({ length: APPENDERS }, async () => {
        while (issued < total) {
          issued++;
          try {
            await producer.send({ messages: [{ topic, partition: 0, value: ENTRY }] });
            acknowledged++;
          } catch (error) {
            const names = [...new Set(JSON.stringify(error, ['errors', 'apiId']).match(/[A-Z_]{6,}/g) ?? [])];
            const name = names.join('+') || (error as Error).message;
            failures.set(name, (failures.get(name) ?? 0) + 1);
          }
        }
      }),
    );
  } finally {
    await producer.close().catch(() => undefined);
  }
  const seconds = (performance.now() - started) / 1000;
  const stored = await storedEntries(brokers, topic);
  const failed = [...failures].map(([name, n]) => `${fmt(n)} ${name}`).join(', ');
  return (
    `platformatic idempotent with every send concurrent (unsafe, not a reference): ${fmt(total)} sends in ` +
    `${seconds.toFixed(1)} s: ${fmt(acknowledged)} acknowledged, ${failed || 'none'} failed; ` +
    `${fmt(stored)} in the topic → ${fmt(Math.max(0, acknowledged - stored))} acknowledged but not written`
  );
}

async function brokerAnswers(brokers: string[]): Promise<string | undefined> {
  const admin = new Admin({
    clientId: 'tierflow-bench',
    bootstrapBrokers: brokers,
    connectTimeout: 3000,
    timeout: 5000,
    retries: 1,
  });
  try {
    await admin.listTopics();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await admin.close().catch(() => undefined);
  }
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export async function run(): Promise<void> {
  const brokers = parseKafkaSpec(KAFKA_URL).brokers;
  const missing = await brokerAnswers(brokers);
  if (missing) {
    console.log(`kafka-clients skipped: no Kafka broker answers at ${KAFKA_URL} (${missing})`);
    return;
  }
  const notes: string[] = [];
  let confluent: ConfluentModule | undefined;
  if (CONFLUENT_MODULE) {
    confluent = createRequire(import.meta.url)(CONFLUENT_MODULE) as ConfluentModule;
    notes.push(
      `@confluentinc/kafka-javascript from ${CONFLUENT_MODULE}, librdkafka ${confluent.librdkafkaVersion}`,
    );
  } else
    notes.push(
      '@confluentinc/kafka-javascript skipped: set TIERFLOW_CONFLUENT_MODULE to the path of a built copy ' +
        '(it is not a dependency; it builds from source only with CKJS_LINKING=dynamic)',
    );
  console.log(
    `kafka-clients benchmark on ${KAFKA_URL}: ${fmt(ENTRIES)} entries of ${ENTRY.length} bytes with ` +
      `${APPENDERS} appenders (at most 10 s), then ${LATENCY_SECONDS} s at ${fmt(RATE)} entries/s; ` +
      `${os.cpus().length} cores, load ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  const prefix = `benchclients${randomBytes(3).toString('hex')}-`;
  const loops: { client: string; loop: BareLoop }[] = [
    { client: 'platformatic', loop: bareIdempotentGrouped(brokers) },
    { client: 'platformatic', loop: bareAcksAll(brokers) },
    { client: 'platformatic', loop: bareIdempotentSerial(brokers) },
    ...(confluent
      ? [
          { client: 'confluent', loop: confluentIdempotent(confluent, brokers, undefined) },
          { client: 'confluent', loop: confluentIdempotent(confluent, brokers, 0) },
        ]
      : []),
  ];
  const figures: Record<string, Figure> = {};
  const problems: string[] = [];
  const measure = (loop: BareLoop) =>
    measureBare(loop, (name) => `${prefix}${name}`, {
      entries: ENTRIES,
      payload: ENTRY,
      appenders: APPENDERS,
      rate: RATE,
      seconds: LATENCY_SECONDS,
      problems,
    });
  try {
    const results = new Map<string, Measured>();
    for (const { client, loop } of loops) {
      const name = loop.name.startsWith(client) ? loop.name : `${client}_${loop.name.replace(/^bare_/, '')}`;
      const m = await measure(loop);
      results.set(name, m);
      const reference =
        name === 'platformatic_idempotent_grouped' ? undefined : 'platformatic_idempotent_grouped';
      figures[`${name}_appends_per_s`] = {
        value: m.rate,
        unit: 'entries/s',
        ...(reference ? { reference: `${reference}_appends_per_s` } : {}),
      };
      if (!Number.isNaN(m.p99)) {
        figures[`${name}_p50_ms_at_10k`] = { value: m.p50, unit: 'ms' };
        figures[`${name}_p99_ms_at_10k`] = {
          value: m.p99,
          unit: 'ms',
          ...(reference ? { reference: `${reference}_p99_ms_at_10k` } : {}),
        };
      }
      notes.push(
        `${name}: ${loop.description}; client CPU ${fmt(m.cpuPerThousand, 1)} ms per 1,000 entries` +
          (Number.isNaN(m.p99)
            ? '; not paced at 10k/s (one request per entry: its backlog would only grow)'
            : ''),
      );
    }
    notes.push(await unsafeConcurrent(brokers, `${prefix}idempotent-concurrent-unsafe`));
    notes.push('ratios: value / the reference (appends/s: higher is better; p99: lower is better)');
    notes.push(
      problems.length === 0
        ? 'every acknowledged entry was found in its topic afterwards (the references and confluent)'
        : `ENTRIES MISSING OR EXTRA: ${problems.join('; ')}`,
    );
    report('kafka-clients', figures, notes);
  } finally {
    await dropKafkaPrefix(KAFKA_URL, prefix);
  }
}
