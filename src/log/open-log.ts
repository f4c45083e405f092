import path from 'node:path';
import { ConfigError } from '../core/index.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { Log } from './log.ts';

/**
 * Opens the log a spec names: `file:<dir>` (or a bare directory) for the embedded file log,
 * `redis://…` for Redis Streams, `nats://…` for NATS JetStream, `kafka://host:port[,…]` for Apache
 * Kafka. A server's spec may end in `?prefix=<name>`: the names of its streams, keys or topics then
 * start with it, so several deployments share one server. The backend owns the connection.
 */
export async function openLog(spec: string, options: { metrics?: Metrics } = {}): Promise<Log> {
  const scheme = /^([a-z]+):\/\//.exec(spec)?.[1];
  if (scheme === 'redis' || scheme === 'rediss') {
    const { createRedisLog } = await import('./redis/index.ts');
    const { url, prefix } = takePrefix(spec);
    return createRedisLog(url, { metrics: options.metrics, prefix });
  }
  if (scheme === 'nats' || scheme === 'tls') {
    const { createNatsLog } = await import('./nats/index.ts');
    const { url, prefix } = takePrefix(spec);
    return createNatsLog(url, { metrics: options.metrics, prefix });
  }
  if (scheme === 'kafka') {
    const { createKafkaLog } = await import('./kafka/index.ts');
    return createKafkaLog(spec, { metrics: options.metrics });
  }
  if (scheme !== undefined)
    throw new ConfigError(
      `unknown log scheme "${scheme}://" (use file:<dir>, redis://…, nats://… or kafka://…)`,
    );
  const { createFileLog } = await import('./file/index.ts');
  return createFileLog(path.resolve(spec.replace(/^file:/, '')), { metrics: options.metrics });
}

export function defaultLogSpec(dataDir: string): string {
  return process.env.TIERFLOW_LOG ?? `file:${path.join(dataDir, 'log')}`;
}

/**
 * A server spec without its `prefix` query parameter, and the prefix (undefined if none). Only the
 * query is parsed: the rest (a NATS server list `nats://a:4222,b:4222`, say) passes as it was.
 */
function takePrefix(spec: string): { url: string; prefix: string | undefined } {
  const at = spec.indexOf('?');
  if (at < 0) return { url: spec, prefix: undefined };
  const query = new URLSearchParams(spec.slice(at + 1));
  const prefix = query.get('prefix') ?? undefined;
  if (prefix === '') throw new ConfigError(`"${spec}": ?prefix= needs a name`);
  query.delete('prefix');
  const rest = query.toString();
  return { url: rest ? `${spec.slice(0, at)}?${rest}` : spec.slice(0, at), prefix };
}
