import type { Admin } from '@platformatic/kafka';
import type { RetentionPolicy } from '../log.ts';
import { unavailable } from './kafka-errors.ts';
import type { PartitionBounds } from './offsets.ts';
import { offsetsForTime } from './offsets.ts';
import type { PartitionSizes } from './partition-sizes.ts';
import { offsetOf, partitionOfPosition } from '../partition-position.ts';
import type { TopicInfo } from './topics.ts';

export interface RetentionContext {
  admin: Admin;
  sizes: PartitionSizes;
  /** Per partition, the lowest offset some group committed (the last it processed). */
  lowestCommitted(): Promise<Map<number, bigint>>;
}

/**
 * Applies a retention policy with DeleteRecords, which moves each partition's log start offset;
 * Kafka deletes a segment file once every record in it lies below the start. Per partition the
 * new start is the later of the age and size limits, then held back to just after the lowest
 * committed offset (unless forced) and to `keepFrom`. Returns the entries dropped.
 */
export async function applyKafkaRetention(
  ctx: RetentionContext,
  topic: string,
  name: string,
  info: TopicInfo,
  bounds: Map<number, PartitionBounds>,
  policy: RetentionPolicy,
): Promise<number> {
  const partitions = info.partitions.map((p) => p.partition);
  const target = new Map<number, bigint>();
  for (const p of partitions) target.set(p, bounds.get(p)!.start);
  if (policy.maxAgeMs !== undefined) {
    const cut = await offsetsForTime(ctx.admin, name, partitions, new Date(Date.now() - policy.maxAgeMs));
    // Never past the end the pass began with: a time lookup that found nothing (no entry that
    // young, or none yet) answers with the end as of a later moment, and entries appended in
    // between would go with it (seen: a stage 1 topic emptied of fresh, uncommitted events).
    for (const p of partitions) {
      const at = cut.get(p)! < bounds.get(p)!.end ? cut.get(p)! : bounds.get(p)!.end;
      if (at > target.get(p)!) target.set(p, at);
    }
  }
  if (policy.maxBytes !== undefined) {
    for (const p of partitions) {
      const { start, end } = bounds.get(p)!;
      const cut = await sizeCut(ctx.sizes, topic, info, p, start, end, policy.maxBytes);
      if (cut > target.get(p)!) target.set(p, cut);
    }
  }
  const committed = policy.force ? undefined : await ctx.lowestCommitted();
  const deletions: { partition: number; offset: bigint }[] = [];
  let dropped = 0n;
  for (const p of partitions) {
    let to = target.get(p)!;
    const held = committed?.get(p);
    if (held !== undefined && to > held + 1n) to = held + 1n;
    if (
      policy.keepFrom !== undefined &&
      (partitions.length === 1 || partitionOfPosition(policy.keepFrom) === p)
    ) {
      const keep = offsetOf(policy.keepFrom);
      if (to > keep) to = keep;
    }
    const { start } = bounds.get(p)!;
    if (to > start) {
      deletions.push({ partition: p, offset: to });
      dropped += to - start;
    }
  }
  if (deletions.length === 0) return 0;
  try {
    await ctx.admin.deleteRecords({ topics: [{ name, partitions: deletions }] });
  } catch (error) {
    throw unavailable(`dropping the oldest entries of "${topic}" failed`, error);
  }
  return Number(dropped);
}

/** The first offset from which the partition's entries take at most `maxBytes`. */
async function sizeCut(
  sizes: PartitionSizes,
  topic: string,
  info: TopicInfo,
  partition: number,
  start: bigint,
  end: bigint,
  maxBytes: number,
): Promise<bigint> {
  const total = await sizes.bytes(topic, info, partition, start, end);
  if (total <= maxBytes) return start;
  return sizes.offsetAfter(topic, info, partition, start, end, total - maxBytes);
}
