import type { Change, Dataset } from '../core/index.ts';
import { TierflowError } from '../core/index.ts';
import type { LakeCommit } from '../lake/lake-writer.ts';
import type { Position } from '../log/log.ts';
import { decodeEvent } from './data-written-event.ts';

/** A committed data-written event as the cold consumer hands it on: its log position and bytes. */
export interface EventToWrite {
  position: Position;
  payload: Uint8Array;
}

/** Where the cold consumer puts committed events: decoded and written to the lake, here or in a worker. */
export interface EventSink {
  write(events: readonly EventToWrite[]): Promise<void>;
}

/** What the event sink writes changes to: the LakeWriter, or anything that writes like it. */
export interface LakeSink {
  write(dataset: Dataset<unknown, unknown>, changes: readonly Change[]): Promise<LakeCommit>;
}

/** Rows one event may carry: the lake position of a row packs (event position, index). */
const ROW_BITS = 20n;
const MAX_EVENT_POSITION = 1n << (63n - ROW_BITS);

export class LakePositionError extends TierflowError {
  constructor(position: Position) {
    super(
      'LAKE_POSITION',
      `event position ${position} is too large to number its rows in the lake (limit 2^43); use the file or NATS log for stage 1`,
    );
  }
}

/**
 * Decodes events into Change envelopes and writes each dataset's changes to the lake. A row's lake
 * position is its event's log position × 2^20 + its index in the event: a pure function of the
 * log, so events read again after a crash carry the positions the lake holds, and it skips them.
 */
export class LakeEventSink implements EventSink {
  constructor(
    private readonly lake: LakeSink,
    private readonly datasetOf: (name: string) => Dataset<unknown, unknown>,
    /** The lake's `source` of these changes when the event does not name its origin. */
    private readonly source = 'dual-write',
  ) {}

  async write(events: readonly EventToWrite[]): Promise<void> {
    const byDataset = new Map<string, Change[]>();
    for (const { position, payload } of events) {
      if (position >= MAX_EVENT_POSITION) throw new LakePositionError(position);
      const event = decodeEvent(payload, this.datasetOf);
      const dataset = this.datasetOf(event.dataset);
      let changes = byDataset.get(event.dataset);
      if (!changes) byDataset.set(event.dataset, (changes = []));
      const base = position << ROW_BITS;
      const remove = event.op === 'delete';
      event.rows.forEach((row, i) => {
        changes.push({
          dataset: event.dataset,
          op: remove ? 'd' : 'u',
          key: Object.fromEntries(dataset.primaryKey.map((k) => [k, row[k]])),
          after: remove ? undefined : row,
          eventTime: event.eventTimes[i]!,
          position: base + BigInt(i),
          source: event.origin ?? this.source,
          schemaVersion: event.schemaVersion,
        });
      });
    }
    for (const [name, changes] of byDataset) await this.lake.write(this.datasetOf(name), changes);
  }
}
