/**
 * Tests that need a server nobody started skip with a clear message, unless
 * TIERFLOW_REQUIRE_SERVICES=1 (CI sets it), where a missing server fails the run.
 */
export async function serviceAvailable(name: string, probe: () => Promise<void>): Promise<boolean> {
  try {
    await probe();
    return true;
  } catch (error) {
    const message = `${name} is unreachable: ${(error as Error).message}`;
    if (process.env.TIERFLOW_REQUIRE_SERVICES === '1')
      throw new Error(`${message} (TIERFLOW_REQUIRE_SERVICES=1)`, { cause: error });
    console.warn(`skipping the ${name} tests: ${message}`);
    return false;
  }
}

import { Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
/** The broker `tierflow kafka start` runs (.ci/run starts it), or $KAFKA_URL. */
export const KAFKA_URL = process.env.KAFKA_URL ?? 'kafka://127.0.0.1:9092';

/** Asks the Kafka broker at KAFKA_URL for its topics once; rejects with the reason it could not. */
export async function pingKafka(): Promise<void> {
  const { probeBroker } = await import('../../src/kafka-broker/probe.ts');
  const address = KAFKA_URL.replace(/^kafka:\/\//, '').split(',')[0]!;
  const failure = await probeBroker(address, 3000);
  if (failure) throw new Error(`${failure.message} (start one with \`npx tierflow kafka start\`)`);
}

/** Connects to the Redis at REDIS_URL and pings it once; rejects with the reason it could not. */
export async function pingRedis(): Promise<void> {
  const probe = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  let refused: Error | undefined;
  probe.on('error', (error: Error) => (refused = error)); // reported below, with the connect that failed
  try {
    await probe.connect().catch((error: unknown) => {
      throw refused ?? error;
    });
    await probe.ping();
  } finally {
    probe.disconnect();
  }
}
