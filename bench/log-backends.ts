import { randomBytes } from 'node:crypto';
import type { Log } from '../src/log/log.ts';
import { createNatsLog, dropNatsPrefix } from '../src/log/nats/index.ts';
import { createRedisLog, dropRedisPrefix } from '../src/log/redis/index.ts';

export interface BenchBackend {
  name: string;
  open(): Promise<Log>;
  cleanup?(): Promise<void>;
  entries: number;
}

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** The server-backed logs reachable here; those that are not are listed in `skipped`. */
export async function logBackends(): Promise<BenchBackend[]> {
  const backends: BenchBackend[] = [];
  const prefix = `bench${randomBytes(3).toString('hex')}`;
  const entries = Number(process.env.BENCH_LOG_SERVER_ENTRIES ?? 50_000);
  try {
    const probe = createRedisLog(REDIS_URL, { prefix });
    await probe.topics();
    await probe.close();
    backends.push({
      name: 'redis',
      entries,
      open: async () => createRedisLog(REDIS_URL, { prefix }),
      cleanup: () => dropRedisPrefix(REDIS_URL, prefix),
    });
  } catch (error) {
    logBackends.skipped.push(`redis skipped: ${(error as Error).message}`);
  }
  const natsPrefix = prefix.toUpperCase();
  try {
    const probe = await createNatsLog(NATS_URL, { prefix: natsPrefix });
    await probe.close();
    backends.push({
      name: 'nats',
      entries,
      open: () => createNatsLog(NATS_URL, { prefix: natsPrefix }),
      cleanup: () => dropNatsPrefix(NATS_URL, natsPrefix),
    });
  } catch (error) {
    logBackends.skipped.push(`nats skipped: ${(error as Error).message}`);
  }
  return backends;
}
logBackends.skipped = [] as string[];
