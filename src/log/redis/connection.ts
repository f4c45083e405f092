import { Redis } from 'ioredis';

/**
 * A connection the log opens from a URL. An append in flight when the connection drops is
 * rejected rather than silently sent again after the reconnect, so its caller decides about
 * the retry (and knows it may duplicate); commands wait through at most three reconnect
 * attempts, so an outage surfaces as LogUnavailableError within about a second.
 */
export function openConnection(url: string): Redis {
  return new Redis(url, {
    connectionName: 'tierflow-log',
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 3,
  });
}

/**
 * A connection of a reader's own for XREAD BLOCK, which holds the connection while it waits.
 * Its name carries the log's key prefix, so `CLIENT LIST` shows whose readers are waiting.
 */
export function openBlockingConnection(client: Redis, prefix: string): Redis {
  return client.duplicate({ connectionName: readerConnectionName(prefix) });
}

/** CLIENT SETNAME refuses spaces and anything outside printable ASCII. */
export function readerConnectionName(prefix: string): string {
  return `tierflow-log-reader:${prefix.replace(/[^!-~]/g, '_')}`;
}

/** QUIT lets replies in flight arrive first; a connection that is down or refuses QUIT is dropped instead. */
export async function closeConnection(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  // QUIT can only fail because the connection went away under it, which leaves it as closing wants it.
  await client.quit().catch(() => client.disconnect());
}
