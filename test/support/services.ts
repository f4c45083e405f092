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

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
