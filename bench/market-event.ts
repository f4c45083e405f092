import { marketData } from '../src/datasets/index.ts';
import type { DataWrittenEvent } from '../src/events/data-written-event.ts';
import { prepareUpsert } from '../src/hot/hot-only-writer.ts';
import type { BarInput } from './bars.ts';

/** A market_data batch validated and normalised as the writer does before it makes an event. */
export function marketDataRows(batch: BarInput[]): Record<string, unknown>[] {
  return prepareUpsert(marketData as never, batch).rows as Record<string, unknown>[];
}

/** The event a writer makes of an upsert of `rows` (from marketDataRows), written now. */
export function marketDataEvent(rows: Record<string, unknown>[]): DataWrittenEvent {
  return {
    dataset: marketData.name,
    schemaVersion: marketData.version,
    op: 'u',
    rows,
    eventTimes: rows.map((r) => r[marketData.eventTime] as string),
    writtenAt: new Date().toISOString(),
  };
}
