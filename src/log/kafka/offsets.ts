import type { Admin } from '@platformatic/kafka';
import { unavailable } from './kafka-errors.ts';

/** Where a partition's entries begin (log start offset) and end (high watermark, the next offset). */
export interface PartitionBounds {
  start: bigint;
  end: bigint;
}

const EARLIEST = -2n;
const LATEST = -1n;

/** ListOffsets at a special time (-2 earliest, -1 latest) or a real one, for every partition. */
async function listOffsets(
  admin: Admin,
  name: string,
  partitions: readonly number[],
  timestamp: bigint,
): Promise<Map<number, bigint>> {
  let listed;
  try {
    listed = await admin.listOffsets({
      topics: [{ name, partitions: partitions.map((partitionIndex) => ({ partitionIndex, timestamp })) }],
    });
  } catch (error) {
    throw unavailable(`listing offsets of "${name}" failed`, error);
  }
  const offsets = new Map<number, bigint>();
  for (const topic of listed) for (const p of topic.partitions) offsets.set(p.partitionIndex, p.offset);
  return offsets;
}

export async function partitionBounds(
  admin: Admin,
  name: string,
  partitions: readonly number[],
): Promise<Map<number, PartitionBounds>> {
  const [starts, ends] = await Promise.all([
    listOffsets(admin, name, partitions, EARLIEST),
    listOffsets(admin, name, partitions, LATEST),
  ]);
  const bounds = new Map<number, PartitionBounds>();
  for (const p of partitions) bounds.set(p, { start: starts.get(p) ?? 0n, end: ends.get(p) ?? 0n });
  return bounds;
}

/** The first offset of each partition taken at or after `time`; the end offset where none was. */
export async function offsetsForTime(
  admin: Admin,
  name: string,
  partitions: readonly number[],
  time: Date,
): Promise<Map<number, bigint>> {
  const [found, ends] = await Promise.all([
    listOffsets(admin, name, partitions, BigInt(Math.max(0, time.getTime()))),
    listOffsets(admin, name, partitions, LATEST),
  ]);
  const offsets = new Map<number, bigint>();
  for (const p of partitions) {
    const offset = found.get(p);
    offsets.set(p, offset === undefined || offset < 0n ? (ends.get(p) ?? 0n) : offset);
  }
  return offsets;
}

/**
 * Group commits in Kafka's group coordinator, so Kafka's own tools (kafka-consumer-groups) show
 * tierflow's groups and their lag. Kafka stores the next offset to read; tierflow's commit names
 * the last position processed, so the two differ by one.
 */
export class GroupCommits {
  constructor(
    private readonly admin: Admin,
    private readonly groupName: (group: string) => string,
  ) {}

  async commit(group: string, name: string, partition: number, offset: bigint): Promise<void> {
    try {
      await this.admin.alterConsumerGroupOffsets({
        groupId: this.groupName(group),
        topics: [{ name, partitionOffsets: [{ partition, offset: offset + 1n }] }],
      });
    } catch (error) {
      throw unavailable(`committing ${offset} for group "${group}" on "${name}" failed`, error);
    }
  }

  /** The last offset processed per partition (committed next offset − 1), for partitions with a commit. */
  async committed(group: string, name: string, partitions: readonly number[]): Promise<Map<number, bigint>> {
    let listed;
    try {
      listed = await this.admin.listConsumerGroupOffsets({
        groups: [{ groupId: this.groupName(group), topics: [{ name, partitionIndexes: [...partitions] }] }],
      });
    } catch (error) {
      throw unavailable(`reading the commits of group "${group}" on "${name}" failed`, error);
    }
    const out = new Map<number, bigint>();
    for (const g of listed)
      for (const t of g.topics)
        for (const p of t.partitions)
          if (p.committedOffset >= 0n) out.set(p.partitionIndex, p.committedOffset - 1n);
    return out;
  }

  /**
   * Every consumer group whose name starts with the log's prefix (with no prefix: every group of
   * the cluster) that committed on `name`, and its committed offsets: what retention holds for.
   */
  async all(name: string, prefix: string): Promise<Map<string, Map<number, bigint>>> {
    let groups;
    try {
      // Both protocols: the classic one tierflow commits under, and KIP-848 consumer groups.
      groups = await this.admin.listGroups({ types: ['classic', 'consumer'] });
    } catch (error) {
      throw unavailable('listing consumer groups failed', error);
    }
    const ids = [...groups.keys()].filter((id) => id.startsWith(prefix));
    const out = new Map<string, Map<number, bigint>>();
    if (ids.length === 0) return out;
    let listed;
    try {
      listed = await this.admin.listConsumerGroupOffsets({ groups: ids });
    } catch (error) {
      throw unavailable(`reading the commits on "${name}" failed`, error);
    }
    for (const g of listed) {
      const offsets = new Map<number, bigint>();
      for (const t of g.topics)
        if (t.name === name)
          for (const p of t.partitions)
            if (p.committedOffset >= 0n) offsets.set(p.partitionIndex, p.committedOffset - 1n);
      if (offsets.size > 0) out.set(g.groupId, offsets);
    }
    return out;
  }
}
