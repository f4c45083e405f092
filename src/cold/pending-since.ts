import type { Log, Position } from '../log/log.ts';
import { topicExtent } from '../log/log.ts';

export interface Pending {
  /** Entries after the position (file log and NATS number entries contiguously). */
  entries: number;
  /** How long the first of them has waited: the log's time of the oldest entry not yet done. */
  ageSeconds: number;
}

/**
 * How old a lag measured for a status or health poll may be: polls come every 50 ms while a
 * caller waits to catch up, and each measurement reads the log and PostgreSQL.
 */
export const STATUS_LAG_MAX_AGE_MS = 1_000;

/** Entries after `after` (all of them if undefined), from the topic's figures alone. */
export async function entriesAfter(log: Log, topic: string, after: Position | undefined): Promise<number> {
  if (!(await log.topics()).includes(topic)) return 0;
  const stats = await topicExtent(log, topic);
  if (stats.last === undefined || (after !== undefined && stats.last <= after)) return 0;
  return after === undefined ? stats.entries : Math.min(stats.entries, Number(stats.last - after));
}

/**
 * What a reader of `topic` that is done through `after` (undefined: nothing done) has still to
 * do, as of now. A lag gauge built on it is the age of the oldest thing not done, so a backlog of
 * hours shows as hours, however recently the reader last finished a batch.
 */
export async function pendingSince(
  log: Log,
  topic: string,
  after: Position | undefined,
  /** On a topic of several partitions, the one this reader reads (its group's lag counts entries). */
  partition?: number,
): Promise<Pending> {
  const entries =
    partition === undefined
      ? await entriesAfter(log, topic, after)
      : await partitionEntriesAfter(log, topic, after, partition);
  if (entries === 0) return { entries: 0, ageSeconds: 0 };
  for await (const batch of log.read(topic, {
    from: after === undefined ? 'earliest' : { after },
    follow: false,
    maxBatchEntries: 1,
    // One entry's time is all this needs: a backend fetching by bytes (Kafka) then fetches little.
    maxBatchBytes: 64 * 1024,
    partition,
  })) {
    const first = batch[0];
    if (first) return { entries, ageSeconds: Math.max(0, (Date.now() - first.timestamp) / 1000) };
  }
  return { entries, ageSeconds: 0 };
}

/**
 * Entries of one partition after `after`, counted up to 1,000 (one bounded read): enough to say
 * whether any wait; the group's backlog is its lag (Log.lag), counted across partitions.
 */
async function partitionEntriesAfter(
  log: Log,
  topic: string,
  after: Position | undefined,
  partition: number,
): Promise<number> {
  if (!(await log.topics()).includes(topic)) return 0;
  for await (const batch of log.read(topic, {
    from: after === undefined ? 'earliest' : { after },
    follow: false,
    maxBatchEntries: 1000,
    maxBatchBytes: 64 * 1024,
    partition,
  }))
    if (batch.length > 0) return batch.length;
  return 0;
}
