import type { Metrics } from '../../observe/metrics.ts';
import { METRIC, noopMetrics } from '../../observe/metrics.ts';
import { LogClosedError, UnknownTopicError } from '../errors.ts';
import type { Log, Position, RetentionPolicy } from '../log.ts';
import { topicPartitions } from '../log.ts';
import { DEFAULT_RETENTION_INTERVAL_MS } from './config.ts';
import { RetentionError } from './errors.ts';

export interface RetentionOptions {
  /** The topics to keep trimmed; default every topic of the log, listed again on each pass. */
  topics?: readonly string[];
  /** Drop entries older than this; undefined: no age limit. */
  maxAgeMs?: number;
  /** Drop the oldest entries while a topic is larger than this; undefined: no size limit. */
  maxBytes?: number;
  /** Time from the end of one pass to the start of the next. Default 5 minutes. */
  intervalMs?: number;
  /** Time before the first pass. Default 0: at once, so a process that restarts often still trims. */
  firstPassAfterMs?: number;
  /**
   * Groups that must have committed on a topic before anything of it is dropped. The log knows a
   * group only from its first commit, so a consumer that has not committed yet (just deployed,
   * or failing since it started) would otherwise hold nothing back.
   */
  requireGroups?: readonly string[];
  /**
   * The first position of a topic that a consumer keeping its position outside the log (the WAL
   * hot processor's checkpoint in PostgreSQL) still needs; nothing from there on is dropped.
   * Return 0n while that consumer has no position yet. A rejection fails the topic's pass.
   */
  keepFrom?: (topic: string) => Promise<Position | undefined>;
  metrics?: Metrics;
  /** Each failed topic pass, as a RetentionError. Default: a process warning (stderr). */
  onError?: (error: RetentionError) => void;
}

export interface TopicPass {
  topic: string;
  entries: number;
  /** Exact when no append landed during the pass, else estimated from the topic's mean entry size. */
  bytes: number;
  /** Why nothing was tried: a required group has not committed yet, or the topic does not exist yet. */
  skipped?: 'uncommitted-group' | 'unknown-topic';
}

export interface RetentionStatus {
  passes: number;
  /** When the last pass ended, whatever its outcome. */
  lastPassAt: Date | undefined;
  /** The last pass's first error, or undefined if it had none. */
  lastError: RetentionError | undefined;
}

export interface RetentionRunner extends AsyncDisposable {
  /** One pass now, after the one under way if any; resolves with what each topic dropped. */
  runOnce(): Promise<TopicPass[]>;
  status(): RetentionStatus;
  /** Stops scheduling and waits for a pass under way. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Applies retention to a log on a schedule: a first pass at once (or after `firstPassAfterMs`),
 * then one every `intervalMs` after the previous ended (passes never overlap). Each backend's
 * applyRetention never drops what a group has not committed; `requireGroups` and `keepFrom`
 * hold back what the log cannot know about. Dropped entries and bytes are counted per topic; a failed topic is counted,
 * reported through onError and tried again on the next pass.
 */
export function startRetention(log: Log, options: RetentionOptions = {}): RetentionRunner {
  const metrics = options.metrics ?? noopMetrics;
  const onError = options.onError ?? ((error: RetentionError) => process.emitWarning(error));
  const intervalMs = options.intervalMs ?? DEFAULT_RETENTION_INTERVAL_MS;
  if (!(intervalMs > 0)) throw new RangeError(`intervalMs must be positive, not ${intervalMs}`);
  for (const [name, value] of [
    ['maxAgeMs', options.maxAgeMs],
    ['maxBytes', options.maxBytes],
  ] as const) {
    if (value !== undefined && !(value >= 0)) throw new RangeError(`${name} must be 0 or more, not ${value}`);
  }
  const status: RetentionStatus = { passes: 0, lastPassAt: undefined, lastError: undefined };
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  let stopping: Promise<void> | undefined;

  const trimTopic = async (topic: string): Promise<TopicPass> => {
    // Every partition: on a topic of several, a partition with entries its group never committed
    // on would hold nothing back in the log's own retention, so the topic waits for that commit.
    // An empty partition asks for nothing.
    const partitions = await topicPartitions(log, topic);
    for (const group of options.requireGroups ?? []) {
      for (let partition = 0; partition < partitions; partition++)
        if (
          (await log.committed(group, topic, partition)) === undefined &&
          (await holdsEntries(log, topic, partitions > 1 ? partition : undefined))
        )
          return { topic, entries: 0, bytes: 0, skipped: 'uncommitted-group' };
    }
    const policy: RetentionPolicy = { maxAgeMs: options.maxAgeMs, maxBytes: options.maxBytes };
    if (options.keepFrom) policy.keepFrom = await options.keepFrom(topic);
    const before = await log.stats(topic);
    const entries = await log.applyRetention(topic, policy);
    if (entries === 0) return { topic, entries, bytes: 0 };
    const after = await log.stats(topic);
    const bytes =
      after.last === before.last
        ? Math.max(0, before.bytes - after.bytes)
        : Math.round((before.bytes / Math.max(1, before.entries)) * entries);
    const labels = { backend: log.backend, topic };
    metrics.count(METRIC.logRetentionDroppedEntries, labels, entries);
    metrics.count(METRIC.logRetentionDroppedBytes, labels, bytes);
    return { topic, entries, bytes };
  };

  const pass = async (): Promise<TopicPass[]> => {
    const results: TopicPass[] = [];
    let firstError: RetentionError | undefined;
    const fail = (topic: string, cause: unknown) => {
      const error = new RetentionError(log.backend, topic, cause);
      firstError ??= error;
      metrics.count(METRIC.logRetentionErrors, { backend: log.backend, topic });
      onError(error);
    };
    let topics: readonly string[] = [];
    try {
      topics = options.topics ?? (await log.topics());
    } catch (error) {
      fail('*', error);
    }
    for (const topic of topics) {
      if (stopped) break;
      try {
        results.push(await trimTopic(topic));
      } catch (error) {
        // A topic named in the options but never appended to has nothing to trim yet.
        if (error instanceof UnknownTopicError)
          results.push({ topic, entries: 0, bytes: 0, skipped: 'unknown-topic' });
        else if (stopped && error instanceof LogClosedError) break;
        else fail(topic, error);
      }
    }
    status.passes += 1;
    status.lastPassAt = new Date();
    status.lastError = firstError;
    if (!firstError) metrics.gauge(METRIC.logRetentionLastPass, Date.now() / 1000, { backend: log.backend });
    return results;
  };

  const runOnce = (): Promise<TopicPass[]> => {
    if (stopped) return Promise.reject(new LogClosedError());
    const next = chain.then(pass);
    chain = next.catch(() => undefined);
    return next;
  };

  const schedule = (delay: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      // A pass reports its topics' failures itself; what reaches here is a stop (LogClosedError)
      // or an onError that threw, which has nobody else to go to.
      void runOnce()
        .catch((error: unknown) => {
          if (!(error instanceof LogClosedError)) process.emitWarning(toError(error));
        })
        .finally(() => schedule(intervalMs));
    }, delay);
    timer.unref();
  };
  schedule(options.firstPassAfterMs ?? 0);

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await chain;
    })();
    return stopping;
  };

  return {
    runOnce,
    status: () => ({ ...status }),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** Whether the topic (or one of its partitions) holds any entry now. */
async function holdsEntries(log: Log, topic: string, partition: number | undefined): Promise<boolean> {
  for await (const batch of log.read(topic, {
    from: 'earliest',
    follow: false,
    partition,
    maxBatchEntries: 1,
  }))
    if (batch.length > 0) return true;
  return false;
}
