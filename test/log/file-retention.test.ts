import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileLog } from '../../src/log/file/index.ts';
import type { Log, Position } from '../../src/log/log.ts';
import { until } from '../support/until.ts';
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

  /** Until the clock has moved past the newest entry of `topic`, so it is older than 1 ms. */
  async function ageOut(name: string): Promise<void> {
    const newest = (await collect(log, name, 'earliest')).at(-1)!.timestamp;
    while (Date.now() <= newest + 1) await new Promise((resolve) => setImmediate(resolve));
  }

  it("lets a quiet topic's active segment go once all of it is past the age and committed", async () => {
    const quiet = 'quiet';
    const positions = await log.append(
      quiet,
      ['a', 'b', 'c'].map((s) => ({ payload: Buffer.from(s) })),
    );
    const files = async () =>
      (await readdir(path.join(dir, 'topics', quiet))).filter((f) => f.endsWith('.log'));
    expect(await files()).toHaveLength(1);
    await log.commit('g', quiet, positions[1]!);
    await ageOut(quiet);
    // "g" has not committed "c": the segment stays.
    expect(await log.applyRetention(quiet, { maxAgeMs: 1 })).toBe(0);
    await log.commit('g', quiet, positions[2]!);
    expect(await log.applyRetention(quiet, { maxAgeMs: 1 })).toBe(3);
    expect(await files()).toHaveLength(1);
    expect(await log.stats(quiet)).toMatchObject({ entries: 0, first: undefined, last: undefined });
    const [next] = await log.append(quiet, [{ payload: Buffer.from('d') }]);
    expect(next).toBe(positions[2]! + 1n);
    expect((await collect(log, quiet, 'earliest')).map((e) => e.position)).toEqual([next]);
    expect(await log.lag('g', quiet)).toBe(1);
  });

  it('takes every append made while retention seals the active segment', async () => {
    const busy = 'busy';
    await log.append(
      busy,
      ['a', 'b', 'c'].map((s) => ({ payload: Buffer.from(s) })),
    );
    await ageOut(busy);
    expect(await log.committed('nobody', busy)).toBeUndefined(); // the group offsets are loaded
    // Retention gets to the seal without waiting for I/O; one macrotask later it is sealing
    // (writing the index, creating the next segment), and the appends queue behind it.
    const retention = log.applyRetention(busy, { maxAgeMs: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    const appends = Array.from({ length: 50 }, (_, i) =>
      log.append(busy, [{ payload: Buffer.from(`n${i}`) }]),
    );
    const dropped = await retention;
    const positions = (await Promise.all(appends)).flat();
    expect(dropped).toBe(3);
    expect(new Set(positions.map(String)).size).toBe(50);
    const read = await collect(log, busy, 'earliest');
    expect(read.slice(-50).map((e) => e.position)).toEqual([...positions].sort((a, b) => (a < b ? -1 : 1)));
    expect(read).toHaveLength(53 - dropped);
  });

  it('seals a quiet topic while another topic takes appends without a pause', async () => {
    const quiet = 'quiet-beside-busy';
    await log.append(
      quiet,
      ['a', 'b', 'c'].map((s) => ({ payload: Buffer.from(s) })),
    );
    await ageOut(quiet);
    let writing = true;
    let appended = 0;
    const writers = Array.from({ length: 8 }, async () => {
      while (writing) {
        const positions = await log.append('busy-beside', [{ payload: Buffer.from('x') }]);
        appended += positions.length;
      }
    });
    await until(() => appended >= 100, 'the other topic to be busy');
    try {
      expect(await log.applyRetention(quiet, { maxAgeMs: 1 })).toBe(3);
    } finally {
      writing = false;
      await Promise.all(writers);
    }
    expect((await log.stats('busy-beside')).entries).toBe(appended);
  });

  it('drops nothing that is within the limits', async () => {
    await fill(20);
    const before = await segmentFiles();
    expect(await log.applyRetention(topic, { maxAgeMs: 3_600_000, maxBytes: 1024 * 1024 })).toBe(0);
    expect(await segmentFiles()).toEqual(before);
  });
});
