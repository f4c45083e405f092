import { ConfigError } from '../core/index.ts';
import { ROW_BITS } from '../lake/position-map.ts';
import { UnknownTopicError } from '../log/errors.ts';
import type { Log } from '../log/log.ts';
import { topicPartitions } from '../log/log.ts';

/** Bits of a log position that a lake row position (signed 64-bit) leaves after the row bits. */
const POSITION_BITS = 63n - ROW_BITS;

/**
 * Refuses, at start-up, a topic whose positions the cold path cannot number rows by. A row's lake
 * position (and a WAL row's sequence) is its entry's log position × 2^20 + its index, so a log
 * position must stay under 2^43; otherwise the first entry would be refused by the lake sink
 * (LakePositionError) and wait for ever. The file log and NATS JetStream count from 0 or 1, and so
 * do Redis streams tierflow creates (IDs 0-1, 0-2, …). What cannot fit is a Redis stream written
 * before that (IDs from the server clock: positions ms × 2^22 + seq), or one whose groups still
 * hold such positions. Both stages call this where their log is chosen: createTierflow (stage 2's
 * WAL) and startStage1 (stage 1's event log), and the entry checklist for stage 2.
 */
export async function assertLogFitsPositions(
  log: Log,
  stage: 'stage 1' | 'stage 2',
  topic: string,
): Promise<void> {
  // Stage 1's cold side shares a topic of several partitions through a consumer group with
  // members, where the log has them (Kafka); stage 2's WAL is one total order everywhere.
  if (stage === 'stage 2' || !log.joinGroup) await assertOnePartition(log, stage, topic);
  if (log.backend !== 'redis') return;
  const { redisTopicNumbering } = await import('../log/redis/index.ts');
  const found = await redisTopicNumbering(log, topic);
  let keys = 'its stream and groups keys';
  if (found) {
    if (found.numbering !== 'legacy') return;
    keys = found.keys.join(', ');
  } else {
    // A Redis log this module cannot look into (a wrapper): the positions it holds decide.
    const last = await log.stats(topic).then(
      (stats) => stats.last,
      (error: unknown) => {
        if (error instanceof UnknownTopicError) return undefined;
        throw error;
      },
    );
    if (last === undefined || last < 1n << POSITION_BITS) return;
  }
  throw new ConfigError(
    `${stage} cannot run on the Redis stream of topic "${topic}": it was written before tierflow numbered Redis entries densely, and its positions (from stream IDs, ms × 2^22 + seq) exceed the 2^${POSITION_BITS} a lake row position (log position × 2^${ROW_BITS} + row) allows. To migrate, let its consumers finish, then delete ${keys} (redis-cli DEL), or give the log another key prefix: the next append starts the topic again at position 1`,
  );
}

/**
 * Stage 2's WAL is one total order, and stage 1's cold consumer reads one partition: a topic of
 * several (a Kafka cluster's num.partitions, `?partitions=N`, partitions added by kafka-topics
 * --alter) would leave every partition but the first unread. Refused at start, by name.
 */
async function assertOnePartition(log: Log, stage: string, topic: string): Promise<void> {
  let partitions: number;
  try {
    partitions = await topicPartitions(log, topic);
  } catch (error) {
    if (error instanceof UnknownTopicError) return; // created with one partition by the first append
    throw error;
  }
  if (partitions > 1)
    throw new ConfigError(
      `${stage} cannot run on topic "${topic}": it has ${partitions} partitions, and ${stage === 'stage 2' ? 'the WAL must be one total order (one partition)' : 'the cold consumer reads one partition'}; create the topic with one partition (Kafka: drop ?partitions= or set it to 1)`,
    );
}
