import type { Consumer, RecordsBatch } from '@platformatic/kafka';
import type { TopicInfo } from './topics.ts';

export interface FetchedPartition {
  partition: number;
  /** Kafka's error code for the partition, 0 when it answered. */
  errorCode: number;
  batches: readonly RecordsBatch[];
}

/**
 * One fetch per leader for the partitions at their offsets. `waitMs` > 0 lets the broker hold the
 * request until data arrives (a following read); `maxBytes` bounds the answer, softly: a first
 * batch larger than it still comes whole.
 */
export async function fetchPartitions(
  fetcher: Consumer,
  info: TopicInfo,
  offsets: ReadonlyMap<number, bigint>,
  options: { waitMs: number; maxBytes: number },
): Promise<FetchedPartition[]> {
  const byLeader = new Map<number, number[]>();
  for (const p of offsets.keys()) {
    const leader = info.partitions[p]!.leader;
    byLeader.set(leader, [...(byLeader.get(leader) ?? []), p]);
  }
  const answers = await Promise.all(
    [...byLeader].map(([leader, partitions]) =>
      fetcher.fetch({
        node: leader,
        maxWaitTime: options.waitMs,
        minBytes: 1,
        maxBytes: options.maxBytes,
        topics: [
          {
            topicId: info.id,
            partitions: partitions.map((partition) => ({
              partition,
              currentLeaderEpoch: -1,
              fetchOffset: offsets.get(partition)!,
              lastFetchedEpoch: -1,
              partitionMaxBytes: options.maxBytes,
            })),
          },
        ],
      }),
    ),
  );
  const out: FetchedPartition[] = [];
  for (const response of answers)
    for (const t of response.responses)
      for (const part of t.partitions)
        out.push({ partition: part.partitionIndex, errorCode: part.errorCode, batches: part.records ?? [] });
  return out;
}
