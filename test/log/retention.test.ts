import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/index.ts';
import { LogClosedError } from '../../src/log/errors.ts';
import { createFileLog } from '../../src/log/file/index.ts';
import type { Log, Position } from '../../src/log/log.ts';
import type { RetentionError } from '../../src/log/retention/index.ts';
import {
  DEFAULT_RETENTION_AGE_MS,
  parseBytes,
  parseDuration,
  resolveRetention,
  startRetention,
} from '../../src/log/retention/index.ts';
import type { Labels, Metrics } from '../../src/observe/metrics.ts';
import { METRIC } from '../../src/observe/metrics.ts';
import { until } from '../support/until.ts';

describe('retention settings', () => {
  it('parses durations and sizes', () => {
    expect(parseDuration('7d', 'X')).toBe(7 * 86_400_000);
    expect(parseDuration('12h', 'X')).toBe(12 * 3_600_000);
    expect(parseDuration('1h30m', 'X')).toBe(90 * 60_000);
    expect(parseDuration('1.5s', 'X')).toBe(1500);
    expect(parseDuration('250ms', 'X')).toBe(250);
    expect(parseDuration('2w', 'X')).toBe(14 * 86_400_000);
    expect(parseBytes('10GiB', 'X')).toBe(10 * 2 ** 30);
    expect(parseBytes('500MB', 'X')).toBe(500_000_000);
    expect(parseBytes('1.5kib', 'X')).toBe(1536);
    expect(parseBytes('4096', 'X')).toBe(4096);
    expect(parseBytes('1 TB', 'X')).toBe(1e12);
  });

  it('refuses what does not parse, naming the setting', () => {
    for (const bad of ['', '7', 'd', '7 days', '7d ago', '-1h', '1h-', 'h1', '1y', '1e3s'])
      expect(() => parseDuration(bad, 'TIERFLOW_RETENTION_AGE'), bad).toThrow(/TIERFLOW_RETENTION_AGE/);
    for (const bad of ['', 'GiB', '10 GiBs', '-5MB', '1e9', '10XB'])
      expect(() => parseBytes(bad, 'TIERFLOW_RETENTION_BYTES'), bad).toThrow(ConfigError);
  });

  it('defaults to seven days and no size limit, and reads the environment', () => {
    expect(resolveRetention({})).toEqual({
      maxAgeMs: DEFAULT_RETENTION_AGE_MS,
      maxBytes: undefined,
      intervalMs: 5 * 60_000,
    });
    expect(DEFAULT_RETENTION_AGE_MS).toBe(7 * 86_400_000);
    expect(
      resolveRetention({
        TIERFLOW_RETENTION_AGE: '12h',
        TIERFLOW_RETENTION_BYTES: '10GiB',
        TIERFLOW_RETENTION_INTERVAL: '30s',
      }),
    ).toEqual({ maxAgeMs: 12 * 3_600_000, maxBytes: 10 * 2 ** 30, intervalMs: 30_000 });
    expect(
      resolveRetention({ TIERFLOW_RETENTION_AGE: 'off', TIERFLOW_RETENTION_BYTES: 'off' }),
    ).toMatchObject({
      maxAgeMs: undefined,
      maxBytes: undefined,
    });
  });

  it('refuses a bad or zero setting with a ConfigError naming the variable', () => {
    const refused = (env: Record<string, string>) => {
      try {
        resolveRetention(env);
      } catch (error) {
        return error;
      }
      return undefined;
    };
    const bad = refused({ TIERFLOW_RETENTION_AGE: 'a week' });
    expect(bad).toBeInstanceOf(ConfigError);
    expect((bad as ConfigError).code).toBe('CONFIG');
    expect((bad as Error).message).toMatch(/TIERFLOW_RETENTION_AGE is "a week"/);
    expect(refused({ TIERFLOW_RETENTION_AGE: '0s' })).toBeInstanceOf(ConfigError);
    expect(refused({ TIERFLOW_RETENTION_BYTES: '0' })).toBeInstanceOf(ConfigError);
    expect(refused({ TIERFLOW_RETENTION_BYTES: 'lots' })).toBeInstanceOf(ConfigError);
    expect(refused({ TIERFLOW_RETENTION_INTERVAL: '10ms' })).toBeInstanceOf(ConfigError);
  });
});

/** Records what is reported through the metrics port. */
function recordingMetrics(): Metrics & { counts: Map<string, number> } {
  const counts = new Map<string, number>();
  const key = (name: string, labels: Labels = {}) => `${name}${JSON.stringify(labels)}`;
  return {
    counts,
    count(name, labels, value = 1) {
      counts.set(key(name, labels), (counts.get(key(name, labels)) ?? 0) + value);
    },
    observe() {},
    gauge(name, value, labels) {
      counts.set(key(name, labels), value);
    },
    onScrape: () => () => {},
  };
}

describe('startRetention on the file log', () => {
  let dir: string;
  let log: Log;
  const SEGMENT_BYTES = 8 * 1024;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tierflow-retention-run-'));
    log = await createFileLog(dir, { segmentBytes: SEGMENT_BYTES });
  });
  afterEach(async () => {
    await log.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** 20 entries of 2100 bytes: five segments of four, the last one active. */
  async function fill(topic: string): Promise<Position[]> {
    const positions: Position[] = [];
    for (let i = 0; i < 20; i++)
      positions.push(...(await log.append(topic, [{ payload: randomBytes(2100) }])));
    return positions;
  }

  it('runs a first pass at once, counts what it dropped per topic, and stops', async () => {
    const a = await fill('a');
    await fill('b');
    const before = await log.stats('a');
    const metrics = recordingMetrics();
    const errors: unknown[] = [];
    const runner = startRetention(log, {
      maxBytes: 2.5 * SEGMENT_BYTES,
      intervalMs: 3_600_000,
      metrics,
      onError: (e) => errors.push(e),
    });
    await until(() => runner.status().passes >= 1, 'the first retention pass');
    await runner.stop();
    await runner.stop();
    expect(errors).toEqual([]);
    expect(runner.status().lastError).toBeUndefined();
    const after = await log.stats('a');
    expect(after.first).toBe(a[12]);
    const labels = { backend: 'file', topic: 'a' };
    expect(metrics.counts.get(`${METRIC.logRetentionDroppedEntries}${JSON.stringify(labels)}`)).toBe(12);
    expect(metrics.counts.get(`${METRIC.logRetentionDroppedBytes}${JSON.stringify(labels)}`)).toBe(
      before.bytes - after.bytes,
    );
    expect(
      metrics.counts.get(`${METRIC.logRetentionDroppedEntries}${JSON.stringify({ ...labels, topic: 'b' })}`),
    ).toBe(12);
    expect(metrics.counts.has(`${METRIC.logRetentionLastPass}${JSON.stringify({ backend: 'file' })}`)).toBe(
      true,
    );
    await expect(runner.runOnce()).rejects.toBeInstanceOf(LogClosedError);
  });

  it('drops nothing of a topic until every required group has committed, then only what they committed', async () => {
    const positions = await fill('events');
    await using runner = startRetention(log, {
      topics: ['events', 'not-yet'],
      maxBytes: 1,
      intervalMs: 3_600_000,
      firstPassAfterMs: 3_600_000,
      requireGroups: ['cold', 'audit'],
    });
    await log.commit('cold', 'events', positions[19]!);
    expect(await runner.runOnce()).toEqual([
      { topic: 'events', entries: 0, bytes: 0, skipped: 'uncommitted-group' },
      { topic: 'not-yet', entries: 0, bytes: 0, skipped: 'unknown-topic' },
    ]);
    expect((await log.stats('events')).first).toBe(positions[0]);
    await log.commit('audit', 'events', positions[9]!);
    const [events] = await runner.runOnce();
    expect(events).toMatchObject({ topic: 'events', entries: 8 });
    expect((await log.stats('events')).first).toBe(positions[8]);
  });

  it('keeps what keepFrom says a consumer outside the log still needs', async () => {
    const positions = await fill('wal');
    // Where a processor keeping its checkpoint outside the log has got to.
    const processor: { checkpoint?: Position } = {};
    await using runner = startRetention(log, {
      maxBytes: 1,
      intervalMs: 3_600_000,
      firstPassAfterMs: 3_600_000,
      keepFrom: async () => (processor.checkpoint === undefined ? 0n : processor.checkpoint + 1n),
    });
    expect((await runner.runOnce())[0]).toMatchObject({ entries: 0 });
    processor.checkpoint = positions[13];
    expect((await runner.runOnce())[0]).toMatchObject({ entries: 12 });
    expect((await log.stats('wal')).first).toBe(positions[12]);
  });

  it('reports a failing topic as a RetentionError, counts it, goes on with the others and tries again', async () => {
    await fill('bad');
    const good = await fill('good');
    let failing = true;
    const flaky: Log = Object.assign(Object.create(log) as Log, {
      backend: 'file',
      applyRetention: (topic: string, policy: Parameters<Log['applyRetention']>[1]) =>
        topic === 'bad' && failing
          ? Promise.reject(new Error('disk on fire'))
          : log.applyRetention(topic, policy),
    });
    const metrics = recordingMetrics();
    const errors: RetentionError[] = [];
    await using runner = startRetention(flaky, {
      maxBytes: 1,
      intervalMs: 3_600_000,
      metrics,
      onError: (e) => errors.push(e),
    });
    await until(() => runner.status().passes >= 1, 'the first retention pass');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'LOG_RETENTION', topic: 'bad', backend: 'file' });
    expect((errors[0]!.cause as Error).message).toBe('disk on fire');
    expect(runner.status().lastError).toBe(errors[0]);
    expect(
      metrics.counts.get(`${METRIC.logRetentionErrors}${JSON.stringify({ backend: 'file', topic: 'bad' })}`),
    ).toBe(1);
    expect(metrics.counts.has(`${METRIC.logRetentionLastPass}${JSON.stringify({ backend: 'file' })}`)).toBe(
      false,
    );
    expect((await log.stats('good')).first).toBe(good[16]);
    failing = false;
    await runner.runOnce();
    expect(runner.status().lastError).toBeUndefined();
    expect((await log.stats('bad')).entries).toBe(4);
  });

  it('refuses limits that are not amounts before it starts', () => {
    expect(() => startRetention(log, { maxAgeMs: -1 })).toThrow(RangeError);
    expect(() => startRetention(log, { maxBytes: Number.NaN })).toThrow(RangeError);
    expect(() => startRetention(log, { intervalMs: 0 })).toThrow(RangeError);
  });

  it('never runs two passes at once', async () => {
    await fill('one');
    let running = 0;
    let most = 0;
    const slow: Log = Object.assign(Object.create(log) as Log, {
      backend: 'file',
      applyRetention: async (topic: string, policy: Parameters<Log['applyRetention']>[1]) => {
        most = Math.max(most, ++running);
        await new Promise((resolve) => setImmediate(resolve));
        running--;
        return log.applyRetention(topic, policy);
      },
    });
    await using runner = startRetention(slow, {
      maxBytes: 1,
      intervalMs: 3_600_000,
      firstPassAfterMs: 3_600_000,
    });
    await Promise.all([runner.runOnce(), runner.runOnce(), runner.runOnce()]);
    expect(most).toBe(1);
    expect(runner.status().passes).toBe(3);
  });
});
