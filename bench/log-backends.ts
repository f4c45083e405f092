import { randomBytes } from 'node:crypto';
import type { Log } from '../src/log/log.ts';
import { parseKafkaSpec } from '../src/log/kafka/options.ts';
import type { BareLoop } from './kafka-bare.ts';
import { bareAcksAll, bareIdempotentGrouped, bareIdempotentSerial } from './kafka-bare.ts';

export interface BenchBackend {
  name: string;
  open(): Promise<Log>;
  cleanup?(): Promise<void>;
  entries: number;
  /**
   * The same client's bare producer loops on the same server, measured around the backend in the
   * same run; the first is the reference of the backend's figures. `topic` names a
   * fresh topic that `cleanup` drops.
   */
  bare?: { loops: BareLoop[]; topic(name: string): string };
}

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
export const KAFKA_URL = process.env.KAFKA_URL ?? 'kafka://127.0.0.1:9092';

/** A log on a server: how to open it under a name prefix, and how to drop everything under one. */
export interface ServerLog {
  name: string;
  url: string;
  /** The prefix as this server's names allow it (NATS stream names are upper case by convention). */
  prefix(base: string): string;
  open(prefix: string): Promise<Log>;
  drop(prefix: string): Promise<void>;
  /** The bare loops of the server's own client the backend is compared with, if any (kafka-bare.ts). */
  bareLoops?(): BareLoop[];
}

export const SERVER_LOGS: ServerLog[] = [
  {
    name: 'redis',
    url: REDIS_URL,
    prefix: (base) => base,
    open: async (prefix) => (await import('../src/log/redis/index.ts')).createRedisLog(REDIS_URL, { prefix }),
    drop: async (prefix) => (await import('../src/log/redis/index.ts')).dropRedisPrefix(REDIS_URL, prefix),
  },
  {
    name: 'nats',
    url: NATS_URL,
    prefix: (base) => base.toUpperCase(),
    open: async (prefix) => (await import('../src/log/nats/index.ts')).createNatsLog(NATS_URL, { prefix }),
    drop: async (prefix) => (await import('../src/log/nats/index.ts')).dropNatsPrefix(NATS_URL, prefix),
  },
  {
    name: 'kafka',
    url: KAFKA_URL,
    prefix: (base) => `${base}-`,
    open: async (prefix) => (await import('../src/log/kafka/index.ts')).createKafkaLog(KAFKA_URL, { prefix }),
    drop: async (prefix) => (await import('../src/log/kafka/index.ts')).dropKafkaPrefix(KAFKA_URL, prefix),
    bareLoops: () => {
      const brokers = parseKafkaSpec(KAFKA_URL).brokers;
      return [bareIdempotentGrouped(brokers), bareAcksAll(brokers), bareIdempotentSerial(brokers)];
    },
  },
];

/** Undefined when the server answers (a log opens and its topics can be listed), else why not. */
export async function unreachable(server: ServerLog, prefix: string): Promise<string | undefined> {
  try {
    const probe = await server.open(prefix);
    try {
      await probe.topics();
    } finally {
      await probe.close();
    }
    return undefined;
  } catch (error) {
    return `no server answers at ${server.url} (${(error as Error).message})`;
  }
}

/** The server-backed logs reachable here; those that are not are listed in `skipped`. */
export async function logBackends(only?: string[]): Promise<BenchBackend[]> {
  const backends: BenchBackend[] = [];
  const base = `bench${randomBytes(3).toString('hex')}`;
  const entries = Number(process.env.BENCH_LOG_SERVER_ENTRIES ?? 50_000);
  for (const server of SERVER_LOGS.filter((s) => !only || only.includes(s.name))) {
    const prefix = server.prefix(base);
    const missing = await unreachable(server, prefix);
    if (missing) {
      logBackends.skipped.push(`${server.name} skipped: ${missing}`);
      continue;
    }
    backends.push({
      name: server.name,
      entries,
      open: () => server.open(prefix),
      cleanup: () => server.drop(prefix),
      ...(server.bareLoops
        ? { bare: { loops: server.bareLoops(), topic: (name: string) => `${prefix}${name}` } }
        : {}),
    });
  }
  return backends;
}
logBackends.skipped = [] as string[];
