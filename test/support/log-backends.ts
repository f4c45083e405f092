import { randomBytes } from 'node:crypto';
import type { Log } from '../../src/log/log.ts';
import { KAFKA_URL, NATS_URL, REDIS_URL, pingKafka, pingRedis, serviceAvailable } from './services.ts';

/**
 * The log backends that run on servers (NATS JetStream, Apache Kafka, Redis Streams), for suites
 * that run the same stage tests on each: one parameterised suite, not a copy per backend. Each
 * test names its own prefix, so its topics and groups are its own and dropped afterwards.
 */
export interface ServerLogBackend {
  name: 'nats' | 'kafka' | 'redis';
  /** Whether the server answers (skips the tests with a message, or fails under TIERFLOW_REQUIRE_SERVICES=1). */
  available(): Promise<boolean>;
  /** A fresh prefix in the backend's naming rules. */
  prefix(label: string): string;
  open(prefix: string): Promise<Log>;
  drop(prefix: string): Promise<void>;
  /** The log spec of the prefix, for the CLI's --log and TIERFLOW_LOG (src/log/open-log.ts). */
  spec(prefix: string): string;
}

const tag = () => randomBytes(4).toString('hex');

export const SERVER_LOG_BACKENDS: readonly ServerLogBackend[] = [
  {
    name: 'nats',
    available: () =>
      serviceAvailable('NATS JetStream', async () => {
        const { connect } = await import('@nats-io/transport-node');
        const { jetstreamManager } = await import('@nats-io/jetstream');
        const nc = await connect({ servers: NATS_URL, timeout: 2000, maxReconnectAttempts: 0 });
        try {
          await jetstreamManager(nc);
        } finally {
          await nc.close();
        }
      }),
    prefix: (label) => `TF${label.toUpperCase().replace(/[^A-Z0-9]/g, '')}_${tag()}`,
    open: async (prefix) => (await import('../../src/log/nats/index.ts')).createNatsLog(NATS_URL, { prefix }),
    drop: async (prefix) => (await import('../../src/log/nats/index.ts')).dropNatsPrefix(NATS_URL, prefix),
    spec: (prefix) => `${NATS_URL}?prefix=${prefix}`,
  },
  {
    name: 'kafka',
    available: () => serviceAvailable('Kafka', pingKafka),
    prefix: (label) => `tf-${label.replace(/[^A-Za-z0-9]/g, '')}-${tag()}.`,
    open: async (prefix) =>
      (await import('../../src/log/kafka/index.ts')).createKafkaLog(KAFKA_URL, { prefix }),
    drop: async (prefix) => (await import('../../src/log/kafka/index.ts')).dropKafkaPrefix(KAFKA_URL, prefix),
    spec: (prefix) => `${KAFKA_URL}?prefix=${prefix}`,
  },
  {
    name: 'redis',
    available: () => serviceAvailable('Redis', pingRedis),
    prefix: (label) => `tf-${label.replace(/[^A-Za-z0-9]/g, '')}-${tag()}`,
    open: async (prefix) =>
      (await import('../../src/log/redis/index.ts')).createRedisLog(REDIS_URL, { prefix }),
    drop: async (prefix) => (await import('../../src/log/redis/index.ts')).dropRedisPrefix(REDIS_URL, prefix),
    spec: (prefix) => `${REDIS_URL}?prefix=${prefix}`,
  },
];

/**
 * The server logs the parameterised suites run on: all, or those TIERFLOW_TEST_LOGS names
 * (comma-separated). CI's second pass, against another PostgreSQL, runs the stage suites on one
 * server log: the logs were covered by the first pass, and PostgreSQL is what the second tests.
 */
export const SELECTED_SERVER_LOGS: readonly ServerLogBackend[] = (() => {
  const names = process.env.TIERFLOW_TEST_LOGS?.split(',').map((n) => n.trim());
  if (!names) return SERVER_LOG_BACKENDS;
  for (const name of names) serverLogBackend(name); // a typo fails loudly
  return SERVER_LOG_BACKENDS.filter((b) => names.includes(b.name));
})();

export function serverLogBackend(name: string): ServerLogBackend {
  const backend = SERVER_LOG_BACKENDS.find((b) => b.name === name);
  if (!backend) throw new Error(`no log backend "${name}"`);
  return backend;
}

/** The file log (server undefined), and every log that runs on a server: for commands that work alike on each. */
export const EVERY_LOG: readonly { name: string; server: ServerLogBackend | undefined }[] = [
  { name: 'file', server: undefined },
  ...SELECTED_SERVER_LOGS.map((server) => ({ name: server.name, server })),
];
