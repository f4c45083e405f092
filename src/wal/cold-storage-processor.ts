import type { Log } from '../log/log.ts';
import type { ColdStorageConsumerOptions } from '../cold/cold-storage-consumer.ts';
import { ColdStorageConsumer } from '../cold/cold-storage-consumer.ts';
import type { EventSink } from '../cold/event-sink.ts';
import { WAL_TOPIC } from './wal-entry.ts';

export const WAL_COLD_GROUP = 'wal-cold';

/**
 * Stage 2's cold side: stage 1's consumer on the WAL topic, in its own group. Every WAL entry was
 * acknowledged, so there are no commits to check; lake files are named by their position ranges,
 * rows carry their row sequences as lake positions, and the group's checkpoint moves only after
 * the lake commit.
 */
export class ColdStorageProcessor extends ColdStorageConsumer {
  constructor(log: Log, sink: EventSink, options: Partial<ColdStorageConsumerOptions> = {}) {
    super(log, sink, { topic: WAL_TOPIC, group: WAL_COLD_GROUP, pipeline: 'cold-processor', ...options });
  }
}
