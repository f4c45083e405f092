import { Consumer } from '@platformatic/kafka';
import type { GroupMembership, Position } from '../log.ts';
import { offsetOf, partitionOfPosition } from '../partition-position.ts';
import { PartitionNotOwnedError } from '../errors.ts';
import { unavailable } from './kafka-errors.ts';
import type { ResolvedKafkaLogOptions } from './options.ts';

export interface JoinSettings {
  group: string;
  topic: string;
  groupId: string;
  kafkaTopic: string;
  partitions: number;
  sessionTimeoutMs: number;
}

/**
 * Joins a Kafka consumer group with the classic group protocol, through the client's own join,
 * sync and heartbeat loop: the coordinator assigns the topic's partitions among the members
 * (round robin), and gives a member's partitions to the others when it leaves, or when it has
 * been silent for the session timeout (a kill -9). Reading is left to the caller (one read per
 * owned partition, ReadOptions.partition); commits go through the member.
 *
 * The member gives its partitions up itself when it cannot know it still owns them: the client
 * reports a failed rejoin as an 'error' event, and it never looks the group's coordinator up
 * again after it moved, so a member could go on believing in partitions the group gave away.
 * Whenever no heartbeat has succeeded for a session timeout, or the client reports an error, the
 * member tells its listeners it owns nothing (they stop writing those partitions), drops the
 * client and joins again with a new one. The lake's scope locks are the fence behind this: a
 * partition's new owner cannot write its scope while the old owner still holds it.
 */
export async function joinKafkaGroup(
  options: ResolvedKafkaLogOptions,
  settings: JoinSettings,
): Promise<GroupMembership> {
  const member = new KafkaMember(options, settings);
  try {
    await member.join();
  } catch (error) {
    await member.close().catch(() => undefined); // nothing is open after a failed first join; the join's error is the report
    throw error;
  }
  return member;
}

const heartbeatEvery = (sessionTimeoutMs: number) => Math.max(100, Math.floor(sessionTimeoutMs / 5));

class KafkaMember implements GroupMembership {
  readonly group: string;
  readonly topic: string;
  private consumer: Consumer | undefined;
  private ownedNow: readonly number[] = [];
  private readonly listeners = new Set<(partitions: readonly number[]) => void>();
  private watchdog: NodeJS.Timeout | undefined;
  private rejoining: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** When this member last knew its membership held: a join or a successful heartbeat. */
  private confirmedAt = 0;
  /** Joined once: from then on the member rejoins by itself. */
  private joined = false;

  constructor(
    private readonly options: ResolvedKafkaLogOptions,
    private readonly settings: JoinSettings,
  ) {
    this.group = settings.group;
    this.topic = settings.topic;
  }

  owned(): readonly number[] {
    return this.ownedNow;
  }

  onAssignment(listener: (partitions: readonly number[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private assign(partitions: readonly number[]): void {
    this.ownedNow = [...partitions].sort((a, b) => a - b);
    for (const listener of this.listeners) listener(this.ownedNow);
  }

  /** Joins with a new client; rejects (and leaves nothing open) if the group cannot be joined. */
  async join(): Promise<void> {
    const { sessionTimeoutMs, kafkaTopic } = this.settings;
    const consumer = new Consumer({
      clientId: `${this.options.clientId}-member`,
      bootstrapBrokers: this.options.brokers,
      groupId: this.settings.groupId,
      timeout: this.options.requestTimeoutMs,
      // A JoinGroup waits for the rebalance, up to rebalanceTimeout: the request must outlast it.
      requestTimeout: Math.max(this.options.requestTimeoutMs, sessionTimeoutMs * 3) + 5000,
      retries: 3,
      retryDelay: 250,
      sessionTimeout: sessionTimeoutMs,
      heartbeatInterval: heartbeatEvery(sessionTimeoutMs),
      rebalanceTimeout: sessionTimeoutMs * 3,
    });
    consumer.on('consumer:group:join', (payload) => {
      if (this.consumer !== consumer || this.closing) return;
      this.confirmedAt = Date.now();
      this.assign(payload.assignments?.find((a) => a.topic === kafkaTopic)?.partitions ?? []);
    });
    consumer.on('consumer:heartbeat:end', () => {
      if (this.consumer === consumer) this.confirmedAt = Date.now();
    });
    // Without a listener Node would throw it from a socket callback and end the process.
    consumer.on('error', () => {
      // Before its first join the member is the caller's to retry (join() rejects), not its own.
      if (this.consumer === consumer && this.joined) this.lost();
    });
    consumer.topics.trackAll(kafkaTopic);
    this.consumer = consumer;
    try {
      await consumer.joinGroup({
        sessionTimeout: sessionTimeoutMs,
        heartbeatInterval: heartbeatEvery(sessionTimeoutMs),
        rebalanceTimeout: sessionTimeoutMs * 3,
      });
    } catch (error) {
      this.consumer = undefined;
      await closeNow(consumer);
      throw unavailable(`joining group "${this.group}" on "${this.topic}" failed`, error);
    }
    this.confirmedAt = Date.now();
    this.joined = true;
    // Silent for longer than a rebalance may take (the client's JoinGroup waits up to the
    // rebalance timeout, with no heartbeat meanwhile) plus a request and a session: the member
    // cannot still hold its partitions.
    const limit = sessionTimeoutMs * 3 + this.options.requestTimeoutMs + sessionTimeoutMs;
    this.watchdog ??= setInterval(() => {
      if (this.closing || this.rejoining) return;
      if (Date.now() - this.confirmedAt > limit) this.lost();
    }, heartbeatEvery(sessionTimeoutMs));
  }

  /** The membership can no longer be trusted: own nothing, then join again until it works. */
  private lost(): void {
    if (this.closing || this.rejoining) return;
    this.assign([]);
    const old = this.consumer;
    this.consumer = undefined;
    this.rejoining = (async () => {
      if (old) await closeNow(old).catch(() => undefined); // a client that failed may not close cleanly
      for (let backoff = 250; !this.closing; backoff = Math.min(backoff * 2, 5_000)) {
        try {
          await this.join();
          return;
        } catch {
          // The broker or coordinator is away: the member owns nothing meanwhile, and tries again.
          await new Promise((resolve) => setTimeout(resolve, backoff));
        }
      }
    })().finally(() => (this.rejoining = undefined));
  }

  async commit(position: Position): Promise<void> {
    const partition = partitionOfPosition(position);
    const consumer = this.consumer;
    if (!consumer || !this.ownedNow.includes(partition))
      throw new PartitionNotOwnedError(this.group, this.topic, partition);
    try {
      await consumer.commit({
        offsets: [
          { topic: this.settings.kafkaTopic, partition, offset: offsetOf(position) + 1n, leaderEpoch: -1 },
        ],
      });
    } catch (error) {
      throw unavailable(`committing ${position} for group "${this.group}" on "${this.topic}" failed`, error);
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.watchdog) clearInterval(this.watchdog);
      this.listeners.clear();
      this.ownedNow = [];
      await this.rejoining;
      const consumer = this.consumer;
      this.consumer = undefined;
      if (!consumer) return;
      try {
        await new Promise<void>((resolve, reject) =>
          consumer.leaveGroup(false, (error) => (error ? reject(error) : resolve())),
        );
      } finally {
        // Closed whether or not the group heard it leave: the session timeout then frees its partitions.
        await closeNow(consumer);
      }
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Closes the consumer without waiting for streams it never opened. */
function closeNow(consumer: Consumer): Promise<void> {
  return new Promise((resolve, reject) =>
    consumer.close(true, (error) => (error ? reject(error) : resolve())),
  );
}
