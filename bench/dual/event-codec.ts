import { findDataset, marketData } from '../../src/datasets/index.ts';
import { decodeEvent, encodeEvent } from '../../src/events/data-written-event.ts';
import type { BarInput } from '../bars.ts';
import { marketDataEvent, marketDataRows } from '../market-event.ts';

/** What one batch's DataWrittenEvent costs this process: encoding (writer) and decoding (consumer). */
export function eventCodecCost(batch: BarInput[]): string {
  const rows = marketDataRows(batch);
  // The event is made afresh for every encoding, as the writer does for every batch.
  const event = () => encodeEvent(marketDataEvent(rows), marketData as never);
  const n = 50;
  let payload = event();
  let started = performance.now();
  for (let i = 0; i < n; i++) payload = event();
  const encode = (performance.now() - started) / n;
  started = performance.now();
  for (let i = 0; i < n; i++) decodeEvent(payload, findDataset);
  const decode = (performance.now() - started) / n;
  return (
    `event of ${batch.length.toLocaleString()} rows: ${(payload.length / 1024).toFixed(0)} KiB (columnar text wire format), ` +
    `encode ${encode.toFixed(1)} ms (writer, inside the hot transaction), decode ${decode.toFixed(1)} ms (cold consumer)`
  );
}
