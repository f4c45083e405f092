import { ConfigError } from '../../core/index.ts';
import type { Metrics } from '../../observe/metrics.ts';
import { noopMetrics } from '../../observe/metrics.ts';
import { isValidPrefix } from './names.ts';

export interface NatsLogOptions {
  /** Starts every stream name (`<prefix>_<topic>`) and subject (`<prefix>.<topic>`). Default 'TIERFLOW'. */
  prefix?: string;
  metrics?: Metrics;
  /** Copies of each topic's stream in a cluster; 3 survives the loss of a server (see docs/log-nats.md). Default 1. */
  replicas?: number;
  /** Default 'file'; 'memory' loses everything when the server restarts. */
  storage?: 'file' | 'memory';
  /** How long a publish waits for its acknowledgement before it is retried. Default 5000. */
  publishTimeoutMs?: number;
  /** Further tries of a publish that timed out, with the same Nats-Msg-Id. Default 2. */
  publishRetries?: number;
}

export type ResolvedNatsLogOptions = Required<NatsLogOptions>;

export function resolveOptions(options: NatsLogOptions): ResolvedNatsLogOptions {
  const resolved: ResolvedNatsLogOptions = {
    prefix: options.prefix ?? 'TIERFLOW',
    metrics: options.metrics ?? noopMetrics,
    replicas: options.replicas ?? 1,
    storage: options.storage ?? 'file',
    publishTimeoutMs: options.publishTimeoutMs ?? 5000,
    publishRetries: options.publishRetries ?? 2,
  };
  if (!isValidPrefix(resolved.prefix)) {
    throw new ConfigError(
      `NATS log prefix "${resolved.prefix}" must be 1-32 letters, digits, '_' or '-', starting with a letter or digit`,
    );
  }
  if (!Number.isInteger(resolved.replicas) || resolved.replicas < 1 || resolved.replicas > 5) {
    throw new ConfigError(`NATS log replicas must be an integer from 1 to 5, not ${resolved.replicas}`);
  }
  if (resolved.storage !== 'file' && resolved.storage !== 'memory') {
    throw new ConfigError(`NATS log storage must be 'file' or 'memory', not "${String(resolved.storage)}"`);
  }
  if (
    !(resolved.publishTimeoutMs > 0) ||
    !Number.isInteger(resolved.publishRetries) ||
    resolved.publishRetries < 0
  ) {
    throw new ConfigError('NATS log publishTimeoutMs must be positive and publishRetries a whole number');
  }
  return resolved;
}
