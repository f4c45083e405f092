import { Admin } from '@platformatic/kafka';

/**
 * Whether a Kafka broker at `address` (host:port) answers a metadata request within `timeoutMs`.
 * Connection errors and timeouts mean no; nothing is retried here: callers poll.
 */
export async function brokerAnswers(address: string, timeoutMs = 2000): Promise<boolean> {
  return (await probeBroker(address, timeoutMs)) === undefined;
}

/** Undefined when the broker answers, else the reason it did not. */
export async function probeBroker(address: string, timeoutMs = 2000): Promise<Error | undefined> {
  const admin = new Admin({
    clientId: 'tierflow-probe',
    bootstrapBrokers: [address],
    timeout: timeoutMs,
    connectTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retries: 0,
  });
  try {
    await admin.listTopics();
    return undefined;
  } catch (error) {
    return error as Error;
  } finally {
    await admin.close().catch(() => undefined);
  }
}
