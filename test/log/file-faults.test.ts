import { spawn } from 'node:child_process';
import { runThenKill } from '../support/kill-child.ts';
import { appendFile, mkdtemp, open, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { LogCorruptionError, LogUnavailableError, RecordDecodeError } from '../../src/log/errors.ts';
import type { DurableIO } from '../../src/log/file/index.ts';
import { createFileLog } from '../../src/log/file/index.ts';
import { DirectoryLockedError } from '../../src/core/dir-lock.ts';
import { nodeIO } from '../../src/log/file/fs-io.ts';
import { decodeRecord, encodeRecord } from '../../src/log/file/record.ts';
import { collect } from './conformance.ts';
import { crashPayload } from './fixtures/payload.ts';
import { mountSmallDisk } from '../support/small-disk.ts';

const dirs: string[] = [];
async function freshDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-faults-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const payloads = (n: number, size = 200) =>
  Array.from({ length: n }, (_, i) => ({ payload: Buffer.alloc(size, i % 251) }));

async function segmentFiles(dir: string, topic: string): Promise<string[]> {
  const topicDir = path.join(dir, 'topics', topic);
  return (await readdir(topicDir))
    .filter((f) => f.endsWith('.log'))
    .sort()
    .map((f) => path.join(topicDir, f));
}

async function flipByte(file: string, at: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, at);
  } finally {
    await handle.close();
  }
}

describe('file log under SIGKILL', () => {
  it('keeps every acknowledged entry, in order, byte for byte, over 20 kills', async () => {
    const dir = await freshDir();
    const acknowledged = new Map<bigint, { round: number; appender: number; counter: number }>();
    for (let round = 0; round < 20; round++) {
      // Killed at a pseudo-random moment 20–300 ms into the appends (seeded by the round).
      const { stderr } = await runThenKill(
        'test/log/fixtures/append-child.ts',
        [dir, String(round)],
        20 + ((round * 7919) % 280),
        (line) => {
          const [position, r, appender, counter] = line.split(' ');
          acknowledged.set(BigInt(position!), {
            round: Number(r),
            appender: Number(appender),
            counter: Number(counter),
          });
        },
      );
      expect(stderr).toBe('');
    }
    expect(acknowledged.size).toBeGreaterThan(100);
    const log = await createFileLog(dir);
    try {
      const stored = new Map((await collect(log, 'crash', 'earliest')).map((e) => [e.position, e]));
      const lastCounter = new Map<string, number>();
      for (const [position, ack] of [...acknowledged].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
        const entry = stored.get(position);
        expect(entry, `acknowledged position ${position} is missing`).toBeDefined();
        expect(Buffer.from(entry!.payload).equals(crashPayload(ack.round, ack.appender, ack.counter))).toBe(
          true,
        );
        expect(entry!.key).toBe(`a${ack.appender}`);
        const series = `${ack.round}:${ack.appender}`;
        expect(ack.counter).toBeGreaterThan(lastCounter.get(series) ?? -1);
        lastCounter.set(series, ack.counter);
      }
    } finally {
      await log.close();
    }
  });
});

describe('file log damage', () => {
  it('reports a flipped byte in the middle of a segment as corruption', async () => {
    const dir = await freshDir();
    const log = await createFileLog(dir);
    await log.append('t', payloads(50));
    await log.close();
    const [file] = await segmentFiles(dir, 't');
    await flipByte(file!, Math.floor((await stat(file!)).size / 2));
    await expect(createFileLog(dir)).rejects.toBeInstanceOf(LogCorruptionError);
  });

  it('reports corruption inside a sealed segment when a reader reaches it', async () => {
    const dir = await freshDir();
    const log = await createFileLog(dir, { segmentBytes: 4096 });
    for (let i = 0; i < 10; i++) await log.append('t', payloads(10));
    await log.close();
    const [first] = await segmentFiles(dir, 't');
    await flipByte(first!, 100);
    const reopened = await createFileLog(dir, { segmentBytes: 4096 });
    await expect(collect(reopened, 't', 'earliest')).rejects.toBeInstanceOf(LogCorruptionError);
    await reopened.close();
  });

  it('truncates random garbage after the tail and goes on appending', async () => {
    const dir = await freshDir();
    const log = await createFileLog(dir);
    await log.append('t', payloads(20));
    await log.close();
    const [file] = await segmentFiles(dir, 't');
    const before = (await stat(file!)).size;
    const garbage = Buffer.from(Array.from({ length: 777 }, (_, i) => (i * 37 + 11) % 256));
    garbage[0] = 0xa7; // even a plausible record start
    await appendFile(file!, garbage);
    const reopened = await createFileLog(dir);
    expect((await stat(file!)).size).toBe(before);
    expect(await collect(reopened, 't', 'earliest')).toHaveLength(20);
    expect(await reopened.append('t', payloads(1))).toEqual([20n]);
    await reopened.close();
  });

  it('rebuilds missing indexes and still seeks by position and time', async () => {
    const dir = await freshDir();
    const log = await createFileLog(dir, { segmentBytes: 2048 });
    const positions = [];
    for (let i = 0; i < 30; i++) positions.push(...(await log.append('t', payloads(3))));
    await log.close();
    const topicDir = path.join(dir, 'topics', 't');
    const indexes = (await readdir(topicDir)).filter((f) => f.endsWith('.index'));
    expect(indexes.length).toBeGreaterThan(3);
    for (const f of indexes) await rm(path.join(topicDir, f));
    const reopened = await createFileLog(dir, { segmentBytes: 2048 });
    expect((await readdir(topicDir)).filter((f) => f.endsWith('.index'))).toHaveLength(indexes.length);
    const all = await collect(reopened, 't', 'earliest');
    expect(all.map((e) => e.position)).toEqual(positions);
    expect((await collect(reopened, 't', 57n, 1))[0]!.position).toBe(57n);
    expect((await collect(reopened, 't', new Date(all[40]!.timestamp), 1))[0]!.timestamp).toBe(
      all[40]!.timestamp,
    );
    await reopened.close();
  });

  it('refuses an entry whose key and headers push the record past the limit, and still opens', async () => {
    const dir = await freshDir();
    const log = await createFileLog(dir);
    await log.append('t', payloads(1));
    const huge = { payload: Buffer.alloc(64 * 1024 * 1024 - 4096), headers: { note: 'x'.repeat(5000) } };
    await expect(log.append('t', [huge])).rejects.toThrow(/exceeds the \d+-byte record limit/);
    await log.close();
    const reopened = await createFileLog(dir);
    expect(await collect(reopened, 't', 'earliest')).toHaveLength(1);
    await reopened.close();
  });

  it('takes a cut-off last record for a torn tail even when its payload holds an old record', async () => {
    const dir = await freshDir();
    const log = await createFileLog(dir);
    const [first] = await log.append('t', payloads(1));
    const mirror = encodeRecord({
      offset: first!,
      timestamp: 1,
      key: undefined,
      headers: {},
      payload: Buffer.alloc(50, 7),
    });
    await log.append('t', [{ payload: Buffer.concat([Buffer.alloc(100, 1), mirror, Buffer.alloc(600, 2)]) }]);
    await log.close();
    const [file] = await segmentFiles(dir, 't');
    await truncate(file!, (await stat(file!)).size - 500);
    const reopened = await createFileLog(dir);
    expect((await collect(reopened, 't', 'earliest')).map((e) => e.position)).toEqual([0n]);
    await reopened.close();
  });

  it('lets one writer hold a directory and takes over a lock left by a dead process', async () => {
    const dir = await freshDir();
    const log = await createFileLog(dir);
    await expect(createFileLog(dir)).rejects.toBeInstanceOf(DirectoryLockedError);
    await log.close();
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((resolve) => dead.once('exit', resolve));
    await writeFile(
      path.join(dir, 'LOCK'),
      JSON.stringify({ pid: dead.pid, host: (await import('node:os')).hostname() }),
    );
    const again = await createFileLog(dir);
    await again.close();
    // A lock naming this very pid, from before a restart (containers reuse pid 1), and a junk lock.
    await writeFile(
      path.join(dir, 'LOCK'),
      JSON.stringify({ pid: process.pid, host: (await import('node:os')).hostname() }),
    );
    await (await createFileLog(dir)).close();
    await writeFile(path.join(dir, 'LOCK'), '');
    await (await createFileLog(dir)).close();
  });
});

describe('file log on a full or failing disk', () => {
  function faultyIO(): DurableIO & { failWrites?: string; failSync?: string } {
    const io: DurableIO & { failWrites?: string; failSync?: string } = {
      async write(handle, buffers, position) {
        if (io.failWrites) {
          // Like a disk filling up mid-write: part of the data lands, then the write fails.
          await nodeIO.write(handle, [buffers[0]!.subarray(0, 5)], position);
          throw Object.assign(new Error(`${io.failWrites}: no space left on device`), {
            code: io.failWrites,
          });
        }
        return nodeIO.write(handle, buffers, position);
      },
      async datasync(handle) {
        if (io.failSync) throw Object.assign(new Error(`${io.failSync}: i/o error`), { code: io.failSync });
        return nodeIO.datasync(handle);
      },
    };
    return io;
  }

  it('rejects appends while the disk is full, stays readable, and recovers when space returns', async () => {
    const dir = await freshDir();
    const io = faultyIO();
    const log = await createFileLog(dir, { io });
    await log.append('t', payloads(5));
    io.failWrites = 'ENOSPC';
    const error = await log.append('t', payloads(3)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LogUnavailableError);
    expect((error as LogUnavailableError).retriable).toBe(true);
    expect((error as Error).message).toMatch(/no space left/);
    expect(await collect(log, 't', 'earliest')).toHaveLength(5);
    io.failWrites = undefined;
    expect(await log.append('t', payloads(1))).toEqual([5n]);
    await log.close();
    const reopened = await createFileLog(dir);
    expect(await collect(reopened, 't', 'earliest')).toHaveLength(6);
    await reopened.close();
  });

  it('refuses every append after a failed fsync, never retrying it, and recovers on reopen', async () => {
    const dir = await freshDir();
    const io = faultyIO();
    const log = await createFileLog(dir, { io });
    await log.append('t', payloads(4));
    io.failSync = 'EIO';
    await expect(log.append('t', payloads(1))).rejects.toMatchObject({
      code: 'LOG_UNAVAILABLE',
      retriable: false,
    });
    io.failSync = undefined;
    await expect(log.append('t', payloads(1))).rejects.toThrow(/refuses appends until it is reopened/);
    expect(await collect(log, 't', 'earliest')).toHaveLength(4);
    await log.close();
    const reopened = await createFileLog(dir);
    const entries = await collect(reopened, 't', 'earliest');
    expect(entries.length).toBeGreaterThanOrEqual(4);
    expect(await reopened.append('t', payloads(1))).toEqual([BigInt(entries.length)]);
    await reopened.close();
  });

  it('on a real full tmpfs: clear error, readable log, appends again once space is freed', async (ctx) => {
    await using disk = await mountSmallDisk('512k', ctx);
    const log = await createFileLog(path.join(disk.dir, 'log'));
    try {
      await log.append('t', payloads(10, 1000));
      await writeFile(path.join(disk.dir, 'filler'), Buffer.alloc(64 * 1024));
      let failure: unknown;
      for (let i = 0; i < 2000 && !failure; i++)
        failure = await log.append('t', payloads(4, 1000)).then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(failure).toBeInstanceOf(LogUnavailableError);
      expect((failure as Error).message).toMatch(/ENOSPC|no space/i);
      const readable = await collect(log, 't', 'earliest');
      expect(readable.length).toBeGreaterThanOrEqual(10);
      await rm(path.join(disk.dir, 'filler'));
      const [position] = await log.append('t', payloads(1, 1000));
      expect(position).toBe(BigInt(readable.length));
    } finally {
      await log.close();
    }
  });
});

describe('record decoder', () => {
  it('decodes or gives a typed error for any bytes, never a crash or a read outside the buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), (bytes, at) => {
        const buf = Buffer.from(bytes);
        try {
          const result = decodeRecord(buf, Math.min(at, buf.length));
          expect(['record', 'incomplete']).toContain(result.kind);
        } catch (error) {
          expect(error).toBeInstanceOf(RecordDecodeError);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('round-trips any record, and detects any single flipped bit', () => {
    const record = fc.record({
      offset: fc.bigInt({ min: 0n, max: 2n ** 63n }),
      timestamp: fc.integer({ min: 0, max: 2 ** 45 }),
      key: fc.option(fc.string(), { nil: undefined }),
      headers: fc.dictionary(fc.string(), fc.string()),
      payload: fc.uint8Array({ maxLength: 500 }),
    });
    fc.assert(
      fc.property(record, fc.nat(), (r, flip) => {
        const frame = encodeRecord(r);
        const decoded = decodeRecord(frame, 0);
        expect(decoded).toMatchObject({ kind: 'record', size: frame.length });
        if (decoded.kind !== 'record') return;
        expect({ ...decoded.record, payload: Buffer.from(decoded.record.payload) }).toEqual({
          ...r,
          headers: { ...r.headers },
          payload: Buffer.from(r.payload),
        });
        const damaged = Buffer.from(frame);
        const bit = flip % (damaged.length * 8);
        damaged[bit >> 3] = damaged[bit >> 3]! ^ (1 << (bit & 7));
        let outcome: string;
        try {
          outcome = decodeRecord(damaged, 0).kind;
        } catch (error) {
          expect(error).toBeInstanceOf(RecordDecodeError);
          outcome = 'error';
        }
        expect(outcome).not.toBe('record');
      }),
      { numRuns: 1000 },
    );
  });
});
