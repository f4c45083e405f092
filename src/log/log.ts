/**
 * The durable log every stage stands on: stage 1's event bus, stage 2's write-ahead log,
 * stage 3's change topics and stage 4's stream jobs. One interface, several backends
 * (log/file, log/redis, log/nats, log/kafka), one conformance suite (test/log/conformance.ts).
 */

/**
 * A position in a topic, assigned by the backend on append: totally ordered within the topic (on
 * Kafka, within a partition). File log: the entry's offset (0, 1, 2, …). Redis: the sequence of
 * its dense stream ID `0-n` (streams written before those: ms × 2^22 + seq). NATS JetStream: the
 * stream sequence. Kafka: the offset, with the partition above bit 48 (partition 0: the offset).
 */
export type Position = bigint;

export interface LogEntryInput {
  /** Entries with the same key keep their order (all entries of a topic do, in these backends). */
  key?: string;
  headers?: Readonly<Record<string, string>>;
  payload: Uint8Array;
  /**
   * The partition, on a topic of several (Kafka); default: the key's, by the backend's rule.
   * Backends without partitions ignore it.
   */
  partition?: number;
}

export interface LogEntry {
  topic: string;
  position: Position;
  key: string | undefined;
  headers: Readonly<Record<string, string>>;
  payload: Uint8Array;
  /** When the log took the entry, in ms since the epoch (event times belong in the payload). */
  timestamp: number;
}

/**
 * Where a read starts: at a position (inclusive), just after one (resuming after a commit), at
 * the first entry, after the last one, or at the first entry appended at or after a time.
 */
export type ReadFrom = Position | { after: Position } | 'earliest' | 'latest' | Date;

export interface ReadOptions {
  from: ReadFrom;
  /** Keep waiting for new entries at the end (default true); false ends the iteration there. */
  follow?: boolean;
  /** Bounds of one batch, and so of what the reader buffers. */
  maxBatchEntries?: number;
  maxBatchBytes?: number;
  signal?: AbortSignal;
  /** Only this partition's entries, on a topic of several; default every partition. */
  partition?: number;
}

/**
 * A member of a consumer group that shares a topic's partitions with the group's other members
 * (Kafka's group protocol): each partition has one owner at a time, and a member that leaves or
 * dies has its partitions given to the others.
 */
export interface GroupMembership extends AsyncDisposable {
  readonly group: string;
  readonly topic: string;
  /** The partitions this member owns now (none before its first assignment). */
  owned(): readonly number[];
  /** Calls `listener` with the owned partitions after every assignment; returns its removal. */
  onAssignment(listener: (partitions: readonly number[]) => void): () => void;
  /** Commits `position` for its partition as this member; rejects if it does not own it now. */
  commit(position: Position): Promise<void>;
  /** Leaves the group: its partitions go to the others at once. Safe to call twice. */
  close(): Promise<void>;
}

export interface JoinOptions {
  /** How long the group waits for a silent member before giving its partitions away. Default 10000. */
  sessionTimeoutMs?: number;
}

/** How many entries a topic holds and its first and last positions. */
export interface TopicExtent {
  topic: string;
  entries: number;
  first: Position | undefined;
  last: Position | undefined;
}

export interface TopicStats extends TopicExtent {
  bytes: number;
}

export interface RetentionPolicy {
  /** Drop the oldest entries while the topic is larger than this. */
  maxBytes?: number;
  /** Drop entries older than this. */
  maxAgeMs?: number;
  /** Also drop entries some consumer group has not committed yet. Default false. */
  force?: boolean;
  /**
   * Never drop this position or any after it, forced or not: the first entry a consumer that
   * keeps its position outside the log (a checkpoint in PostgreSQL) still needs.
   */
  keepFrom?: Position;
}

export interface Log extends AsyncDisposable {
  /** The backend's name, for messages and metrics: 'file', 'redis', 'nats'. */
  readonly backend: string;
  /**
   * Appends entries in order and resolves with their positions once they are durable by the
   * backend's definition (see its README section). Creates the topic if needed. Rejects, and
   * acknowledges nothing, if the entries cannot be made durable.
   */
  append(topic: string, entries: readonly LogEntryInput[]): Promise<Position[]>;
  /** Batches of entries in position order. Throws UnknownTopicError for a topic never appended to. */
  read(topic: string, options: ReadOptions): AsyncIterable<LogEntry[]>;
  /** Records that `group` has processed everything up to and including `position`. */
  commit(group: string, topic: string, position: Position): Promise<void>;
  /** The last position `group` committed on `topic` (on a topic of several, on `partition`, default 0), or undefined. */
  committed(group: string, topic: string, partition?: number): Promise<Position | undefined>;
  /** Entries after the group's committed position (all entries if it never committed). */
  lag(group: string, topic: string): Promise<number>;
  topics(): Promise<string[]>;
  stats(topic: string): Promise<TopicStats>;
  /**
   * stats() without the bytes, for callers polled often (lag gauges, a processor's start): a
   * backend that must read entries to count bytes (Kafka) answers this from offsets alone.
   * Optional: topicExtent() falls back to stats().
   */
  extent?(topic: string): Promise<TopicExtent>;
  /**
   * The topic's partitions (for a topic not created yet, those its first append would create); a
   * backend without partitions leaves this out, meaning 1.
   */
  partitions?(topic: string): Promise<number>;
  /** Joins `group` on `topic` as a member sharing its partitions (backends with partitions only). */
  joinGroup?(group: string, topic: string, options?: JoinOptions): Promise<GroupMembership>;
  /**
   * Drops the oldest entries beyond the policy, never one after the lowest position a group
   * committed (unless forced) nor from `keepFrom` on. Returns the number of entries dropped.
   */
  applyRetention(topic: string, policy: RetentionPolicy): Promise<number>;
  /** Waits for in-flight appends, stops readers, releases resources. Safe to call twice. */
  close(): Promise<void>;
}

const TOPIC_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

export function isValidTopic(name: string): boolean {
  return TOPIC_NAME.test(name) && !name.includes('..');
}

/** The topic's extent, from extent() where the backend has it, else from stats(). */
export async function topicExtent(log: Log, topic: string): Promise<TopicExtent> {
  if (log.extent) return log.extent(topic);
  const { bytes: _bytes, ...extent } = await log.stats(topic);
  return extent;
}

/** The topic's partitions: 1 on backends without partitions. */
export async function topicPartitions(log: Log, topic: string): Promise<number> {
  return log.partitions ? log.partitions(topic) : 1;
}
