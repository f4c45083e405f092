import { Consumer } from '@platformatic/kafka';
import type { GroupMembership, Position } from '../log.ts';
import { unavailable } from './kafka-errors.ts';
import type { ResolvedKafkaLogOptions } from './options.ts';
import { offsetOf, partitionOfPosition } from '../partition-position.ts';

export interface JoinSettings {
  group: string;
  topic: string;
  groupId: string;
  kafkaTopic: string;
  partitions: number;
  sessionTimeoutMs: number;
}

/** A member does not own the partition it commits for (any more): a rebalance gave it away. */
export class PartitionNotOwnedError extends Error {
  constructor(group: string, topic: string, partition: number) {
    super(`group "${group}": this member does not own partition ${partition} of "${topic}" now`);
  }
}

/**
 * Joins a Kafka consumer group with the classic group protocol, through the client's own join,
 * sync and heartbeat loop: the coordinator assigns the topic's partitions among the members
 * (round robin), and gives a member's partitions to the others when it leaves, or when it has
 * been silent for the session timeout (a kill -9). Reading is left to the caller (one read per
 * owned partition, ReadOptions.partition); commits go through the member, fenced by its
 * generation, so Kafka's tools show the group with its members and their lag.
 */
export async function joinKafkaGroup(
  options: ResolvedKafkaLogOptions,
  settings: JoinSettings,
): Promise<GroupMembership> {
  const consumer = new Consumer({
    clientId: `${options.clientId}-member`,
    bootstrapBrokers: options.brokers,
    groupId: settings.groupId,
    timeout: options.requestTimeoutMs,
    requestTimeout: options.requestTimeoutMs + 5000,
    retries: 3,
    retryDelay: 250,
    sessionTimeout: settings.sessionTimeoutMs,
    heartbeatInterval: Math.max(100, Math.floor(settings.sessionTimeoutMs / 5)),
    rebalanceTimeout: settings.sessionTimeoutMs * 3,
  });
  let owned: readonly number[] = [];
  const listeners = new Set<(partitions: readonly number[]) => void>();
  consumer.on('consumer:group:join', (payload) => {
    const mine = payload.assignments?.find((a) => a.topic === settings.kafkaTopic)?.partitions ?? [];
    owned = [...mine].sort((a, b) => a - b);
    for (const listener of listeners) listener(owned);
  });
  consumer.topics.trackAll(settings.kafkaTopic);
  try {
    await consumer.joinGroup({
      sessionTimeout: settings.sessionTimeoutMs,
      heartbeatInterval: Math.max(100, Math.floor(settings.sessionTimeoutMs / 5)),
      rebalanceTimeout: settings.sessionTimeoutMs * 3,
    });
  } catch (error) {
    await closeNow(consumer);
    throw unavailable(`joining group "${settings.group}" on "${settings.topic}" failed`, error);
  }
  let closing: Promise<void> | undefined;
  const membership: GroupMembership = {
    group: settings.group,
    topic: settings.topic,
    owned: () => owned,
    onAssignment(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async commit(position: Position) {
      const partition = partitionOfPosition(position);
      if (!owned.includes(partition))
        throw new PartitionNotOwnedError(settings.group, settings.topic, partition);
      try {
        await consumer.commit({
          offsets: [
            { topic: settings.kafkaTopic, partition, offset: offsetOf(position) + 1n, leaderEpoch: -1 },
          ],
        });
      } catch (error) {
        throw unavailable(
          `committing ${position} for group "${settings.group}" on "${settings.topic}" failed`,
          error,
        );
      }
    },
    close() {
      closing ??= (async () => {
        listeners.clear();
        owned = [];
        try {
          await new Promise<void>((resolve, reject) =>
            consumer.leaveGroup(false, (error) => (error ? reject(error) : resolve())),
          );
        } finally {
          await closeNow(consumer);
        }
      })();
      return closing;
    },
    [Symbol.asyncDispose]: () => membership.close(),
  };
  return membership;
}

/** Closes the consumer without waiting for streams it never opened. */
function closeNow(consumer: Consumer): Promise<void> {
  return new Promise((resolve, reject) =>
    consumer.close(true, (error) => (error ? reject(error) : resolve())),
  );
}
