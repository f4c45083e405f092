import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { StoredRecord } from '../../src/log/file/record.ts';
import { FrameBuffer, decodeRecord, encodeRecord } from '../../src/log/file/record.ts';

const record = (offset: number, bytes: number): StoredRecord => ({
  offset: BigInt(offset),
  timestamp: 1_700_000_000_000 + offset,
  key: `k${offset}`,
  headers: { n: String(offset) },
  payload: randomBytes(bytes),
});

/** Every record framed in `bytes`, in order. */
function decodeAll(bytes: Buffer): StoredRecord[] {
  const out: StoredRecord[] = [];
  for (let at = 0; at < bytes.length;) {
    const result = decodeRecord(bytes, at);
    if (result.kind !== 'record') throw new Error(`incomplete frame at ${at}`);
    out.push({ ...result.record, payload: Buffer.from(result.record.payload) });
    at += result.size;
  }
  return out;
}

describe('FrameBuffer: the file log reuses one buffer for the frames of each round', () => {
  it('frames records exactly as encodeRecord does, one after the other', () => {
    const frames = new FrameBuffer(64);
    const records = [record(0, 10), record(1, 0), record(2, 300)];
    const sizes = records.map((r) => frames.add(r));
    expect(frames.bytes).toEqual(Buffer.concat(records.map(encodeRecord)));
    expect(sizes).toEqual(records.map((r) => encodeRecord(r).length));
  });

  it('grows within a round without losing earlier frames, and starts clean after clear', () => {
    const frames = new FrameBuffer(1024);
    const first = [record(0, 100), record(1, 5_000), record(2, 20_000)];
    for (const r of first) frames.add(r);
    expect(decodeAll(frames.bytes)).toEqual(first.map((r) => ({ ...r, payload: Buffer.from(r.payload) })));
    // Larger than 8 × the kept size: dropped back after the round, and still correct after.
    frames.clear();
    const second = [record(3, 10), record(4, 50)];
    for (const r of second) frames.add(r);
    expect(decodeAll(frames.bytes).map((r) => r.offset)).toEqual([3n, 4n]);
    expect(decodeAll(frames.bytes)[1]!.payload).toEqual(Buffer.from(second[1]!.payload));
  });
});
