import type { Change, Dataset } from '../core/index.ts';
import { TierflowError } from '../core/index.ts';
import type { LakeCommit, LakeWriter } from '../lake/lake-writer.ts';
import type { PositionRun, RunOptions } from '../lake/position-map.ts';
import { MAX_ROWS_PER_ENTRY, lakePosition, openRun } from '../lake/position-map.ts';
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

const MAX_LAKE_POSITION = (1n << 63n) - 1n;

export class LakePositionError extends TierflowError {
  constructor(position: Position) {
    super(
      'LAKE_POSITION',
      `event position ${position} is too large to number its rows in the lake (limit 2^43 entries); use the file or NATS log`,
    );
  }
}

/** Where lake positions come from when several topics feed one lake over time (position-map.ts). */
export interface LakeRuns extends RunOptions {
  lake: LakeWriter;
  datasets: readonly string[];
  topic: string;
}

const SINGLE_RUN: PositionRun = { topic: '', from: 0n, base: 0n };

/**
 * Decodes events into Change envelopes and writes each dataset's changes to the lake. A row's lake
 * position is its event's log position × 2^20 + its index in the event (shifted into the topic's
 * run when `runs` is given): a pure function of the log, so events read again after a crash carry
 * the positions the lake holds, and it skips them.
 */
export class LakeEventSink implements EventSink {
  private run: PositionRun | undefined;

  constructor(
    private readonly lake: LakeSink,
    private readonly datasetOf: (name: string) => Dataset<unknown, unknown>,
    private readonly options: {
      /** The lake's `source` of these changes when the event does not name its origin. */
      source?: string;
      runs?: LakeRuns;
    } = {},
  ) {}

  async write(events: readonly EventToWrite[]): Promise<void> {
    if (events.length === 0) return;
    const runs = this.options.runs;
    this.run ??= runs
      ? await openRun(runs.lake, runs.datasets, runs.topic, events[0]!.position, runs)
      : SINGLE_RUN;
    const run = this.run;
    const byDataset = new Map<string, Change[]>();
    for (const { position, payload } of events) {
      if (
        position < run.from ||
        lakePosition(run, position, 0) + BigInt(MAX_ROWS_PER_ENTRY) > MAX_LAKE_POSITION
      )
        throw new LakePositionError(position);
      const event = decodeEvent(payload, this.datasetOf);
      const dataset = this.datasetOf(event.dataset);
      let changes = byDataset.get(event.dataset);
      if (!changes) byDataset.set(event.dataset, (changes = []));
      const base = lakePosition(run, position, 0);
      const remove = event.op === 'delete';
      event.rows.forEach((row, i) => {
        changes.push({
          dataset: event.dataset,
          op: remove ? 'd' : 'u',
          key: Object.fromEntries(dataset.primaryKey.map((k) => [k, row[k]])),
          after: remove ? undefined : row,
          eventTime: event.eventTimes[i]!,
          position: base + BigInt(i),
          source: event.origin ?? this.options.source ?? 'dual-write',
          schemaVersion: event.schemaVersion,
        });
      });
    }
    for (const [name, changes] of byDataset) await this.lake.write(this.datasetOf(name), changes);
  }
}
