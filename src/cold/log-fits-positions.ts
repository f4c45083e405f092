import { ConfigError } from '../core/index.ts';
import { ROW_BITS } from '../lake/position-map.ts';
import type { Log } from '../log/log.ts';

/** Bits of a log position that a lake row position (signed 64-bit) leaves after the row bits. */
const POSITION_BITS = 63n - ROW_BITS;

/**
 * Refuses, at start-up, a log whose positions the cold path cannot number rows by. A row's lake
 * position (and a WAL row's sequence) is its entry's log position × 2^20 + its index, so a log
 * position must stay under 2^43. The Redis log's positions are built from stream IDs (milliseconds
 * since 1970, shifted left): today's already exceed it, so the first event would be refused by
 * the lake sink (LakePositionError) and wait for ever. The file log and NATS JetStream count from
 * 0. Both stages call this where their log is chosen: createTierflow (stage 2's WAL) and
 * startStage1 (stage 1's event log).
 */
export function assertLogFitsPositions(log: Pick<Log, 'backend'>, stage: 'stage 1' | 'stage 2'): void {
  if (log.backend !== 'redis') return;
  throw new ConfigError(
    `${stage} cannot run on the Redis log yet: its positions (from stream IDs) exceed the 2^${POSITION_BITS} a lake row position (log position × 2^${ROW_BITS} + row) allows; use the file log or NATS JetStream`,
  );
}
