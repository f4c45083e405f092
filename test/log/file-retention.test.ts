import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileLog } from '../../src/log/file/index.ts';
import type { Log, Position } from '../../src/log/log.ts';
import { collect } from './conformance.ts';

/** Segments of 8 KiB and entries of 2100 bytes (and a few of framing): four entries a segment. */
const SEGMENT_BYTES = 8 * 1024;
const ENTRY_BYTES = 2100;

describe('file log retention', () => {
  let dir: string;
  let log: Log;
  const topic = 'retained';
  const segmentFiles = async () =>
    (await readdir(path.join(dir, 'topics', topic))).filter((f) => f.endsWith('.log')).sort();

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tierflow-retention-'));
    log = await createFileLog(dir, { segmentBytes: SEGMENT_BYTES });
  });
  afterEach(async () => {
    await log.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function fill(count: number): Promise<Position[]> {
    const positions: Position[] = [];
    for (let i = 0; i < count; i++)
      positions.push(...(await log.append(topic, [{ payload: randomBytes(ENTRY_BYTES) }])));
    return positions;
  }

  it('deletes the segments and bytes beyond the size limit, and reading from earliest starts after them', async () => {
    const positions = await fill(20);
    const filesBefore = await segmentFiles();
    const before = await log.stats(topic);
    expect(filesBefore).toHaveLength(5);

    const maxBytes = 2.5 * SEGMENT_BYTES;
    const dropped = await log.applyRetention(topic, { maxBytes });

    const after = await log.stats(topic);
    const filesAfter = await segmentFiles();
    expect(dropped).toBe(12);
    expect(filesAfter).toEqual(filesBefore.slice(3));
    expect(after.bytes).toBeLessThanOrEqual(maxBytes);
    expect(before.bytes - after.bytes).toBeGreaterThan(12 * ENTRY_BYTES);
    expect(after).toMatchObject({ entries: 8, first: positions[12], last: positions[19] });
    const read = await collect(log, topic, 'earliest');
    expect(read.map((e) => e.position)).toEqual(positions.slice(12));
    // A reader asking for a dropped position starts at the first one kept.
    expect((await collect(log, topic, positions[3]!, 1))[0]!.position).toBe(positions[12]);
  });

  it('drops by age only what every group has committed, and keeps the rest for the slow group', async () => {
    const positions = await fill(20);
    await log.commit('fast', topic, positions[19]!);
    await log.commit('slow', topic, positions[9]!);
    const newest = (await collect(log, topic, 'earliest')).at(-1)!.timestamp;
    while (Date.now() <= newest + 1) await new Promise((resolve) => setImmediate(resolve));

    const dropped = await log.applyRetention(topic, { maxAgeMs: 1 });

    // Segments 0-3 and 4-7 are committed by both groups; 8-11 holds 10 and 11, which "slow" has not.
    expect(dropped).toBe(8);
    expect(await segmentFiles()).toHaveLength(3);
    const kept = await collect(log, topic, { after: (await log.committed('slow', topic))! });
    expect(kept.map((e) => e.position)).toEqual(positions.slice(10));
    expect(await log.lag('slow', topic)).toBe(10);
    expect((await log.stats(topic)).first).toBe(positions[8]);
  });

  it('keeps everything from keepFrom on, even when forced', async () => {
    const positions = await fill(20);
    expect(await log.applyRetention(topic, { maxBytes: 0, force: true, keepFrom: positions[6]! })).toBe(4);
    expect((await log.stats(topic)).first).toBe(positions[4]);
    expect(await log.applyRetention(topic, { maxBytes: 0, force: true })).toBe(12);
    expect((await log.stats(topic)).first).toBe(positions[16]);
  });

  it('drops nothing that is within the limits', async () => {
    await fill(20);
    const before = await segmentFiles();
    expect(await log.applyRetention(topic, { maxAgeMs: 3_600_000, maxBytes: 1024 * 1024 })).toBe(0);
    expect(await segmentFiles()).toEqual(before);
  });
});
