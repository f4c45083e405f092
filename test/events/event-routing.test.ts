import { describe, expect, it } from 'vitest';
import { findDataset, marketData } from '../../src/datasets/index.ts';
import { decodeEvent, encodeEvent } from '../../src/events/data-written-event.ts';
import { routeEvent, routeRows, rowKey } from '../../src/events/event-routing.ts';
import { partitionOf } from '../../src/log/partitioner.ts';

const bar = (symbol: string, minute: number) => ({
  symbol,
  interval: '1m',
  bucket_start: new Date(Date.UTC(2024, 2, 4, 14, minute)).toISOString().replace('Z', '000Z'),
  open: '1.000000',
  high: '2.000000',
  low: '1.000000',
  close: '2.000000',
  volume: null,
  vwap: null,
  trade_count: null,
  source: 'routing-test',
});

describe('routing events by row key', () => {
  const rows = Array.from({ length: 40 }, (_, i) => bar(`S${i % 7}`, i));

  it('groups rows by the partition of their dataset and primary key, in order, keyed to land there', () => {
    const groups = routeRows(marketData, rows, 4);
    expect(groups.length).toBeGreaterThan(1);
    expect(groups.flatMap((g) => g.indexes).sort((a, b) => a - b)).toEqual(rows.map((_, i) => i));
    for (const group of groups) {
      expect(partitionOf(group.key, 4)).toBe(group.partition);
      expect(group.indexes).toEqual([...group.indexes].sort((a, b) => a - b));
      for (const row of group.rows) expect(partitionOf(rowKey(marketData, row), 4)).toBe(group.partition);
    }
    expect(rowKey(marketData, rows[0]!)).toBe('market_data|S0|1m|2024-03-04T14:00:00.000000Z');
  });

  it('splits an encoded event into one per partition, rows and event times intact; one partition keeps it whole', () => {
    const event = {
      dataset: 'market_data',
      schemaVersion: marketData.version,
      op: 'u' as const,
      rows,
      eventTimes: rows.map((r) => r.bucket_start),
      writtenAt: '2024-03-04T15:00:00.000000Z',
      origin: 'dual-write',
    };
    const payload = encodeEvent(event, marketData);
    expect(routeEvent(payload, findDataset, 1)).toEqual([
      { partition: 0, key: rowKey(marketData, rows[0]!), rows: 40, payload },
    ]);
    const parts = routeEvent(payload, findDataset, 4);
    const decoded = parts.map((p) => decodeEvent(p.payload, findDataset));
    expect(decoded.reduce((n, e) => n + e.rows.length, 0)).toBe(40);
    for (const [i, part] of parts.entries()) {
      expect(part.rows).toBe(decoded[i]!.rows.length);
      expect(decoded[i]).toMatchObject({
        dataset: 'market_data',
        op: 'u',
        writtenAt: event.writtenAt,
        origin: 'dual-write',
      });
      for (const row of decoded[i]!.rows)
        expect(partitionOf(rowKey(marketData, row), 4)).toBe(part.partition);
    }
    const back = decoded
      .flatMap((e) => e.rows)
      .sort((a, b) => String(a.bucket_start).localeCompare(String(b.bucket_start)));
    expect(back).toEqual(decodeEvent(payload, findDataset).rows);
  });
});
