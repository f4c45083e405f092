import type { Admin, Consumer } from '@platformatic/kafka';
import { InvalidTopicError, LogClosedError, UnknownTopicError } from '../errors.ts';
import type { LogEntry, ReadFrom, ReadOptions } from '../log.ts';
import { isValidTopic } from '../log.ts';
import { TopicRecreatedError, isLeaderUnknown, kafkaErrorName, unavailable } from './kafka-errors.ts';
import type { PartitionBounds } from './offsets.ts';
import { offsetsForTime, partitionBounds } from './offsets.ts';
import { offsetOf, partitionOfPosition } from '../partition-position.ts';
import { fetchPartitions } from './fetch.ts';
import { nextOffsetAfter, recordsOf } from './records.ts';
import type { KafkaTopics, TopicInfo } from './topics.ts';

/** How long a following read's fetch waits at the broker for new entries. */
const FOLLOW_WAIT_MS = 500;
const DEFAULT_MAX_ENTRIES = 1000;
const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;

export interface ReaderContext {
  admin: Admin;
  fetcher: Consumer;
  topics: KafkaTopics;
  closed: Promise<void>;
  isClosed(): boolean;
}

/** Where each partition's read starts. A position names its own partition; the others start at their end. */
async function startOffsets(
  ctx: ReaderContext,
  name: string,
  partitions: readonly number[],
  from: ReadFrom,
  bounds: Map<number, PartitionBounds>,
): Promise<Map<number, bigint>> {
  const starts = new Map<number, bigint>();
  if (from instanceof Date) return offsetsForTime(ctx.admin, name, partitions, from);
  for (const p of partitions) {
    const { start, end } = bounds.get(p)!;
    if (from === 'earliest') starts.set(p, start);
    else if (from === 'latest') starts.set(p, end);
    else {
      const position = typeof from === 'bigint' ? from : from.after + 1n;
      const partition = partitionOfPosition(typeof from === 'bigint' ? from : from.after);
      if (partitions.length > 1 && partition !== p) starts.set(p, end);
      else starts.set(p, offsetOf(position) < start ? start : offsetOf(position));
    }
  }
  return starts;
}

/** Looks up a topic and its partitions' bounds. */
export async function openTopic(
  ctx: ReaderContext,
  topic: string,
): Promise<{ info: TopicInfo; bounds: Map<number, PartitionBounds> }> {
  const info = await ctx.topics.info(topic);
  const partitions = info.partitions.map((p) => p.partition);
  return { info, bounds: await partitionBounds(ctx.admin, ctx.topics.name(topic), partitions) };
}

/**
 * Reads a topic's entries in offset order, in batches within the bounds. One fetch request asks
 * the leader for every partition; a following read long-polls (FOLLOW_WAIT_MS), a bounded one ends
 * at the end offsets the topic had when it began. An offset retention has dropped meanwhile moves
 * the read to the first entry kept.
 */
export async function* readTopic(
  ctx: ReaderContext,
  topic: string,
  options: ReadOptions,
  /** The topic and its bounds, looked up when read() was called (see KafkaLog.read). */
  opened: Promise<{ info: TopicInfo; bounds: Map<number, PartitionBounds> }>,
): AsyncGenerator<LogEntry[]> {
  if (!isValidTopic(topic)) throw new InvalidTopicError(topic);
  if (ctx.isClosed()) throw new LogClosedError();
  const follow = options.follow ?? true;
  const maxEntries = options.maxBatchEntries ?? DEFAULT_MAX_ENTRIES;
  const maxBytes = options.maxBatchBytes ?? DEFAULT_MAX_BYTES;
  const name = ctx.topics.name(topic);
  const first = await opened;
  let info: TopicInfo = first.info;
  const { bounds } = first;
  const partitions =
    options.partition === undefined ? info.partitions.map((p) => p.partition) : [options.partition];
  if (options.partition !== undefined && !info.partitions.some((p) => p.partition === options.partition))
    throw new RangeError(`partition ${options.partition} of "${topic}", which has ${info.partitions.length}`);
  const next = await startOffsets(ctx, name, partitions, options.from, bounds);
  const stopAt = follow ? undefined : new Map([...bounds].map(([p, b]) => [p, b.end]));

  const stopped = () => ctx.isClosed() || options.signal?.aborted === true;
  const unfinished = () => partitions.filter((p) => stopAt === undefined || next.get(p)! < stopAt.get(p)!);

  while (!stopped()) {
    const wanted = unfinished();
    if (wanted.length === 0) return;
    let fetched;
    try {
      fetched = await fetchPartitions(ctx.fetcher, info, new Map(wanted.map((p) => [p, next.get(p)!])), {
        waitMs: follow ? FOLLOW_WAIT_MS : 0,
        maxBytes,
      });
    } catch (error) {
      if (stopped()) return; // close() closed the fetcher under the read
      info = await recover(ctx, topic, info, error, next, wanted);
      continue;
    }
    for (const part of fetched) {
      const p = part.partition;
      if (part.errorCode !== 0) {
        info = await recover(ctx, topic, info, part, next, [p]);
        continue;
      }
      let batch: LogEntry[] = [];
      let bytes = 0;
      for (const record of recordsOf(topic, p, part.batches, next.get(p)!)) {
        if (stopAt !== undefined && record.offset >= stopAt.get(p)!) break;
        if (batch.length > 0 && (batch.length >= maxEntries || bytes + record.bytes > maxBytes)) {
          yield batch;
          if (stopped()) return;
          batch = [];
          bytes = 0;
        }
        batch.push(record.entry());
        bytes += record.bytes;
        next.set(p, record.offset + 1n);
      }
      // Control batches hold no entry but still move the read on.
      const after = nextOffsetAfter(part.batches);
      if (after !== undefined && after > next.get(p)! && (stopAt === undefined || after <= stopAt.get(p)!))
        next.set(p, after);
      if (batch.length > 0) {
        yield batch;
        if (stopped()) return;
      }
    }
  }
}

/**
 * Mends a failed fetch where that can work: a moved leader (fresh metadata), an offset retention
 * dropped (to the new start). A topic deleted, or one whose end fell below the read (deleted and
 * created again), fails the read; so does any other error, as LogUnavailableError.
 */
async function recover(
  ctx: ReaderContext,
  topic: string,
  info: TopicInfo,
  failure: unknown,
  next: Map<number, bigint>,
  partitions: readonly number[],
): Promise<TopicInfo> {
  const name = ctx.topics.name(topic);
  const code = (failure as { errorCode?: number }).errorCode;
  const outOfRange = code === 1 || kafkaErrorName(failure, 'OFFSET_OUT_OF_RANGE') !== undefined;
  const moved =
    isLeaderUnknown(failure) ||
    code === 6 ||
    code === 74 ||
    code === 100 ||
    kafkaErrorName(
      failure,
      'NOT_LEADER_OR_FOLLOWER',
      'FENCED_LEADER_EPOCH',
      'UNKNOWN_TOPIC_ID',
      'LEADER_NOT_AVAILABLE',
    ) !== undefined;
  if (!outOfRange && !moved) {
    const cause = failure instanceof Error ? failure : new Error(`fetch error code ${code}`);
    throw unavailable(`reading "${topic}" failed`, cause);
  }
  // A leader election takes a moment: look again after it, not in a tight loop.
  if (isLeaderUnknown(failure)) await new Promise((resolve) => setTimeout(resolve, 250));
  let fresh: TopicInfo;
  try {
    fresh = await ctx.topics.info(topic, true);
  } catch (error) {
    if (error instanceof UnknownTopicError)
      throw new TopicRecreatedError(topic, 'it was deleted while being read');
    throw error;
  }
  if (fresh.id !== info.id)
    throw new TopicRecreatedError(
      topic,
      `it was deleted and created again while being read (id ${info.id} → ${fresh.id})`,
    );
  if (outOfRange) {
    const bounds = await partitionBounds(ctx.admin, name, partitions);
    for (const p of partitions) {
      const { start, end } = bounds.get(p)!;
      const at = next.get(p)!;
      if (at < start) next.set(p, start);
      else if (at > end)
        throw new TopicRecreatedError(topic, `partition ${p} ends at ${end}, before the read's offset ${at}`);
    }
  }
  return fresh;
}
