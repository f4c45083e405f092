import { appendFile, mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileLog } from '../../src/log/file/index.ts';
import type { Log, LogEntry } from '../../src/log/log.ts';
import { until } from '../support/until.ts';

const TOPIC = 'bars';
const SEGMENT_BYTES = 64 * 1024;

let dir: string;
let log: Log | undefined;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tierflow-prealloc-'));
});

afterEach(async () => {
  await log?.close();
  log = undefined;
  await rm(dir, { recursive: true, force: true });
});

const topicDir = () => path.join(dir, 'topics', TOPIC);
const payload = (i: number) => new TextEncoder().encode(`entry ${i} `.padEnd(1000, 'x'));

async function segmentFiles(): Promise<{ name: string; bytes: number }[]> {
  const names = (await readdir(topicDir())).filter((n) => n.endsWith('.log')).sort();
  return Promise.all(
    names.map(async (name) => ({ name, bytes: (await stat(path.join(topicDir(), name))).size })),
  );
}

async function readAll(from: Log): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const batch of from.read(TOPIC, { from: 'earliest', follow: false })) out.push(...batch);
  return out;
}

/** Appends one entry at a time until the active segment is a preallocated one (longer than its data). */
async function appendUntilPreallocated(target: Log, first: number): Promise<number> {
  let next = first;
  await until(async () => {
    await target.append(TOPIC, [{ payload: payload(next++) }]);
    const files = await segmentFiles();
    const stats = await target.stats(TOPIC);
    return files.length > 1 && files.at(-1)!.bytes === SEGMENT_BYTES && stats.bytes > 0;
  }, 'a preallocated segment to be in use');
  return next;
}

describe('file log segment preallocation', () => {
  it('rolls into zero-filled segments, seals them to their data, and reads everything back in order', async () => {
    log = await createFileLog(dir, { segmentBytes: SEGMENT_BYTES });
    let next = await appendUntilPreallocated(log, 0);
    // Fill past two more segments, so preallocated segments are sealed too; end in a preallocated one.
    for (let i = 0; i < 150; i++) await log.append(TOPIC, [{ payload: payload(next++) }]);
    next = await appendUntilPreallocated(log, next);

    const entries = await readAll(log);
    expect(entries.map((e) => new TextDecoder().decode(e.payload).split(' ')[1])).toEqual(
      Array.from({ length: next }, (_, i) => String(i)),
    );
    const files = await segmentFiles();
    expect(files.length).toBeGreaterThan(3);
    // Sealed segments hold their records only (each ends with a payload's last byte, no zeros);
    // the active one is a full-size preallocated file.
    expect(files.at(-1)!.bytes).toBe(SEGMENT_BYTES);
    for (const f of files.slice(0, -1)) {
      const handle = await open(path.join(topicDir(), f.name), 'r');
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, f.bytes - 1);
      await handle.close();
      expect(last[0], f.name).toBe('x'.charCodeAt(0));
    }
  });

  it('reopens a preallocated tail where the records end, and appends after them', async () => {
    log = await createFileLog(dir, { segmentBytes: SEGMENT_BYTES });
    const next = await appendUntilPreallocated(log, 0);
    const before = await log.stats(TOPIC);
    await log.close();

    log = await createFileLog(dir, { segmentBytes: SEGMENT_BYTES });
    expect(await log.stats(TOPIC)).toEqual(before);
    // The zeros are still there: recovery did not mistake them for a torn write and cut them.
    expect((await segmentFiles()).at(-1)!.bytes).toBe(SEGMENT_BYTES);
    const [position] = await log.append(TOPIC, [{ payload: payload(next) }]);
    expect(position).toBe(before.last! + 1n);
    const entries = await readAll(log);
    expect(entries).toHaveLength(next + 1);
    expect(new TextDecoder().decode(entries.at(-1)!.payload).startsWith(`entry ${next} `)).toBe(true);
  });

  it('cuts a torn write inside a preallocated segment and keeps every record before it', async () => {
    log = await createFileLog(dir, { segmentBytes: SEGMENT_BYTES });
    const next = await appendUntilPreallocated(log, 0);
    const before = await log.stats(TOPIC);
    const active = (await segmentFiles()).at(-1)!;
    const activeData = before.bytes - (await segmentFiles()).slice(0, -1).reduce((s, f) => s + f.bytes, 0);
    await log.close();
    log = undefined;

    // A crash in the middle of a round: the start of a frame (magic byte, a length) over the zeros.
    const handle = await open(path.join(topicDir(), active.name), 'r+');
    await handle.write(Buffer.from([0xa7, 0xe8, 0x03, 0x00, 0x00, 0x12, 0x34]), 0, 7, activeData);
    await handle.close();

    log = await createFileLog(dir, { segmentBytes: SEGMENT_BYTES });
    expect(await log.stats(TOPIC)).toEqual(before);
    const [position] = await log.append(TOPIC, [{ payload: payload(next) }]);
    expect(position).toBe(before.last! + 1n);
    expect(await readAll(log)).toHaveLength(next + 1);
  });

  it('leaves no spare file behind after close, and removes one a crashed process left', async () => {
    log = await createFileLog(dir, { segmentBytes: SEGMENT_BYTES });
    await appendUntilPreallocated(log, 0);
    await log.close();
    log = undefined;
    expect((await readdir(topicDir())).filter((n) => n.includes('spare'))).toEqual([]);

    // A half-written spare from a process killed while filling it.
    await appendFile(path.join(topicDir(), 'next-segment.spare'), Buffer.alloc(1000));
    log = await createFileLog(dir, { segmentBytes: SEGMENT_BYTES });
    await log.stats(TOPIC);
    expect((await readdir(topicDir())).filter((n) => n.includes('spare'))).toEqual([]);
  });
});
