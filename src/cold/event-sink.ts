import type { Dataset } from '../core/index.ts';
import { TierflowError } from '../core/index.ts';
import type { LakeBatch } from '../lake/lake-batch.ts';
import { LakeBatchBuilder } from '../lake/lake-batch.ts';
import type { LakeCommit, LakeWriter } from '../lake/lake-writer.ts';
import type { PositionRun, RunOptions } from '../lake/position-map.ts';
import { MAX_ROWS_PER_ENTRY, lakePosition, openRun } from '../lake/position-map.ts';
import type { Position } from '../log/log.ts';
import type { EventColumns } from '../events/data-written-event.ts';
import { decodeEventColumns } from '../events/data-written-event.ts';
import { RejectedEntryError } from '../events/rejected-entry.ts';

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
  writeBatch(dataset: Dataset<unknown, unknown>, batch: LakeBatch): Promise<LakeCommit>;
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
    const byDataset = new Map<string, LakeBatchBuilder>();
    for (const { position, payload } of events) {
      if (
        position < run.from ||
        lakePosition(run, position, 0) + BigInt(MAX_ROWS_PER_ENTRY) > MAX_LAKE_POSITION
      )
        throw new LakePositionError(position);
      const event = this.decode(position, payload);
      let builder = byDataset.get(event.dataset);
      if (!builder)
        byDataset.set(event.dataset, (builder = new LakeBatchBuilder(this.datasetOf(event.dataset))));
      builder.addColumns({
        op: event.op,
        columns: event.columns,
        values: event.values,
        count: event.count,
        firstPosition: lakePosition(run, position, 0),
        eventTimes: event.eventTimes,
        schemaVersion: event.schemaVersion,
      });
    }
    for (const [name, builder] of byDataset)
      await this.lake.writeBatch(this.datasetOf(name), builder.build());
  }

  /** An event that cannot be decoded is a RejectedEntryError naming it: the consumer dead-letters it. */
  private decode(position: Position, payload: Uint8Array): EventColumns {
    try {
      return decodeEventColumns(payload, this.datasetOf);
    } catch (error) {
      throw RejectedEntryError.of(position, error) ?? error;
    }
  }
}
