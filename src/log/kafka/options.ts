import { ConfigError } from '../../core/index.ts';
import type { Metrics } from '../../observe/metrics.ts';
import { noopMetrics } from '../../observe/metrics.ts';

export interface KafkaLogOptions {
  /** host:port of one or more brokers to bootstrap from. */
  brokers: string[];
  /** Starts every Kafka topic and consumer group name tierflow uses (`<prefix><topic>`). Default ''. */
  prefix?: string;
  /** Partitions of a topic the log creates. Default 1. */
  partitions?: number;
  /** Replication factor of a topic the log creates; -1 takes the broker's default.replication.factor. Default -1. */
  replicas?: number;
  /** The client id brokers see (quotas, request logs). Default 'tierflow'. */
  clientId?: string;
  /** How long the broker may take over one request (the client waits 5 s more). Default 10000. */
  requestTimeoutMs?: number;
  /** How long an append may wait for its acknowledgement, queued and sent. Default 30000. */
  appendTimeoutMs?: number;
  /** Bytes of appends that may wait for their send; more are refused at once. Default 64 MiB. */
  maxQueuedBytes?: number;
  /** How often an appender describes its topic again (partitions added, topic recreated). Default 30000. */
  metadataRefreshMs?: number;
  metrics?: Metrics;
}

export type ResolvedKafkaLogOptions = Required<KafkaLogOptions>;

const PREFIX = /^[A-Za-z0-9._-]{0,40}$/;

/**
 * `kafka://host:port[,host:port…][?prefix=…&partitions=N&replicas=N&clientId=…]`: the brokers to
 * bootstrap from and the settings of the topics the log creates.
 */
export function parseKafkaSpec(spec: string): KafkaLogOptions {
  const match = /^kafka:\/\/([^/?#]+)\/?(?:\?(.*))?$/.exec(spec);
  if (!match) throw new ConfigError(`"${spec}" is not a kafka://host:port[,host:port] log spec`);
  const brokers = match[1]!.split(',').map((b) => b.trim());
  for (const broker of brokers)
    if (!/^[^:\s]+:\d{1,5}$/.test(broker))
      throw new ConfigError(`broker "${broker}" in "${spec}" is not host:port`);
  const options: KafkaLogOptions = { brokers };
  for (const [name, value] of new URLSearchParams(match[2] ?? '')) {
    if (name === 'prefix') options.prefix = value;
    else if (name === 'clientId') options.clientId = value;
    else if (name === 'partitions') options.partitions = Number(value);
    else if (name === 'replicas') options.replicas = Number(value);
    else if (name === 'requestTimeoutMs') options.requestTimeoutMs = Number(value);
    else if (name === 'appendTimeoutMs') options.appendTimeoutMs = Number(value);
    else
      throw new ConfigError(
        `unknown option "${name}" in "${spec}" (known: prefix, partitions, replicas, clientId, requestTimeoutMs, appendTimeoutMs)`,
      );
  }
  return options;
}

export function resolveKafkaOptions(options: KafkaLogOptions): ResolvedKafkaLogOptions {
  const resolved: ResolvedKafkaLogOptions = {
    brokers: options.brokers,
    prefix: options.prefix ?? '',
    partitions: options.partitions ?? 1,
    replicas: options.replicas ?? -1,
    clientId: options.clientId ?? 'tierflow',
    requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    appendTimeoutMs: options.appendTimeoutMs ?? 30_000,
    maxQueuedBytes: options.maxQueuedBytes ?? 64 * 1024 * 1024,
    metadataRefreshMs: options.metadataRefreshMs ?? 30_000,
    metrics: options.metrics ?? noopMetrics,
  };
  if (resolved.brokers.length === 0) throw new ConfigError('the Kafka log needs at least one broker');
  if (!PREFIX.test(resolved.prefix))
    throw new ConfigError(
      `Kafka log prefix "${resolved.prefix}" must be at most 40 letters, digits, '.', '_' or '-'`,
    );
  if (!Number.isInteger(resolved.partitions) || resolved.partitions < 1 || resolved.partitions > 1024)
    throw new ConfigError(
      `Kafka log partitions must be an integer from 1 to 1024, not ${resolved.partitions}`,
    );
  if (!Number.isInteger(resolved.replicas) || resolved.replicas === 0 || resolved.replicas < -1)
    throw new ConfigError(
      `Kafka log replicas must be -1 (the broker's default) or a positive integer, not ${resolved.replicas}`,
    );
  for (const name of ['requestTimeoutMs', 'appendTimeoutMs', 'maxQueuedBytes', 'metadataRefreshMs'] as const)
    if (!(resolved[name] > 0))
      throw new ConfigError(`Kafka log ${name} must be positive, not ${resolved[name]}`);
  return resolved;
}
