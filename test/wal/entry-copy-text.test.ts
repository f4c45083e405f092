import { describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/core/index.ts';
import { validatorFor } from '../../src/core/index.ts';
import { marketData } from '../../src/datasets/index.ts';
import { prepareUpsert } from '../../src/hot/hot-only-writer.ts';
import { copyText, preparedBatch } from '../../src/hot/upsert.ts';
import { encodeEvent } from '../../src/events/data-written-event.ts';
import { encodeJsonEvent } from '../../src/events/event-json.ts';
import { columnarLayout } from '../../src/events/event-columnar.ts';
import { hotEntryOf } from '../../src/wal/apply-to-hot.ts';
import { entryCopyText as copyTextOf } from '../../src/wal/entry-copy-text.ts';

const entryCopyText = (payload: Uint8Array, dataset: Dataset<unknown, unknown>, position: bigint) =>
  copyTextOf(payload, columnarLayout(payload), dataset, position);
import { rowSequence } from '../../src/wal/wal-entry.ts';
import { syntheticBars } from '../../bench/bars.ts';
import { everyKindDataset } from '../support/every-kind.ts';

const mixed = everyKindDataset;

/** What the hot tier's own COPY encoder makes of decoded rows: the reference. */
function reference(
  dataset: Dataset<unknown, unknown>,
  rows: Record<string, unknown>[],
  position: bigint,
): string {
  const batch = preparedBatch(
    rows,
    rows.map((_, i) => rowSequence(position, i)),
  );
  return [...copyText(dataset, batch, false)].join('');
}

function entry(dataset: Dataset<unknown, unknown>, rows: Record<string, unknown>[], op: 'u' | 'd' = 'u') {
  return encodeEvent(
    {
      dataset: dataset.name,
      schemaVersion: 1,
      op,
      rows,
      eventTimes: rows.map((r) => r[dataset.eventTime] as string),
      writtenAt: '2024-01-01T00:00:00.000Z',
    },
    dataset,
  );
}

const decoder = new TextDecoder();

describe('COPY text straight from a WAL entry', () => {
  it('matches the hot encoder byte for byte on text that needs escaping, nulls, every kind', () => {
    const rows = validatorFor(mixed)([
      {
        id: 'tab\there\nnew line\\slash\rreturn ünï 📈',
        at: '2024-03-04T14:30:00.123456Z',
        n32: -5,
        n64: 9223372036854775807n,
        f: -0,
        price: '-12.5',
        flag: true,
        listed: '2024-02-29',
        doc: { text: 'a\tb\\c "q"', list: [1, null] },
        note: '',
      },
      {
        id: 'b',
        at: '2024-03-04T14:31:00Z',
        n32: null,
        n64: null,
        f: null,
        price: null,
        flag: null,
        listed: null,
        doc: null,
        note: null,
      },
      {
        id: 'c',
        at: '2024-03-04T14:32:00Z',
        n32: 1,
        n64: 2n,
        f: 0.1,
        price: '3',
        flag: false,
        listed: '2024-01-01',
        doc: [],
        note: 'x',
      },
    ]) as Record<string, unknown>[];
    const text = entryCopyText(entry(mixed, rows), mixed, 42n);
    expect(decoder.decode(text)).toBe(reference(mixed, rows, 42n));
    expect(decoder.decode(text)).toContain('tab\\there\\nnew line\\\\slash\\rreturn');
    expect(decoder.decode(text).split('\n')[1]).toMatch(/^b\t[^\t]+(\t\\N){8}\t/);
  });

  it('matches on a full market-data entry, and on positions whose row sequences pass 2^53', () => {
    const rows = prepareUpsert(marketData as never, syntheticBars({ count: 1_000 }) as never).rows as Record<
      string,
      unknown
    >[];
    const dataset = marketData as unknown as Dataset<unknown, unknown>;
    const payload = entry(dataset, rows);
    for (const position of [0n, 123_456n, 2n ** 40n]) {
      expect(decoder.decode(entryCopyText(payload, dataset, position))).toBe(
        reference(dataset, rows, position),
      );
    }
  });

  it('leaves deletes, version 1 payloads and columns out of the dataset order to the decoding path', () => {
    const rows = validatorFor(mixed)([{ id: 'a', at: '2024-03-04T14:30:00Z' }]) as Record<string, unknown>[];
    expect(entryCopyText(entry(mixed, rows, 'd'), mixed, 1n)).toBeUndefined();
    const reordered = rows.map((r) => Object.fromEntries(Object.entries(r).reverse()));
    expect(entryCopyText(entry(mixed, reordered), mixed, 1n)).toBeUndefined();
    const columns = Object.keys(rows[0]!);
    const v1 = encodeJsonEvent({
      dataset: mixed.name,
      schemaVersion: 1,
      op: 'upsert',
      columns,
      values: columns.map((c) => rows.map((r) => r[c])),
      writtenAt: '',
    });
    const fromLog = (payload: Uint8Array) =>
      hotEntryOf(
        { topic: 'wal', position: 7n, key: undefined, headers: {}, payload, timestamp: 0 },
        () => mixed,
      );
    expect(fromLog(v1).copyText).toBeUndefined();
    expect(fromLog(v1).rows()).toEqual(rows);
    expect(fromLog(entry(mixed, rows)).copyText).toBeDefined();
    expect(fromLog(entry(mixed, rows)).rows()).toEqual(rows);
  });
});
