import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPool } from '../../src/hot/pool.ts';
import { createFileLog } from '../../src/log/file/index.ts';
import type { Log } from '../../src/log/log.ts';
import { PrometheusMetrics } from '../../src/observe/prometheus.ts';
import { HEALTH_TOPIC, logProbe } from '../../src/server/health-probes.ts';
import type { StatusServer } from '../../src/server/http-server.ts';
import { startStatusServer } from '../../src/server/http-server.ts';
import { tierflowHealth } from '../../src/server/tierflow-health.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

interface Health {
  healthy: boolean;
  mode: string;
  checks: Record<string, { ok: boolean; detail: string }>;
}

describe('/health against a real PostgreSQL and file log', () => {
  const url = new URL(inject('databaseUrl'));
  const proxy = new TcpProxy(url.hostname, Number(url.port || 5432));
  const timeoutMs = 500;
  let dir: string;
  let log: Log;
  let server: StatusServer;
  let pool: ReturnType<typeof createPool>;

  beforeAll(async () => {
    await proxy.start();
    const viaProxy = new URL(url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    pool = createPool(viaProxy.toString(), { max: 2, connectionTimeoutMillis: 5_000 });
    dir = await mkdtemp(path.join(tmpdir(), 'tierflow-health-'));
    log = await createFileLog(path.join(dir, 'log'));
    server = await startStatusServer({
      port: 0,
      metrics: new PrometheusMetrics({ processMetrics: false }),
      health: tierflowHealth({ mode: 'dual-write', pool, log, settings: { maxLagSeconds: 300, timeoutMs } }),
    });
  });
  afterAll(async () => {
    await server?.close();
    await pool?.end();
    await log?.close();
    await proxy.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const health = async () => {
    const response = await fetch(`http://127.0.0.1:${server.port}/health`);
    return { status: response.status, body: (await response.json()) as Health };
  };

  it('is 200 with PostgreSQL and the log checked, and an entry appended to the health topic', async () => {
    const before = (await log.topics()).includes(HEALTH_TOPIC) ? (await log.stats(HEALTH_TOPIC)).entries : 0;
    const { status, body } = await health();
    expect(body.checks.postgres).toMatchObject({ ok: true, detail: expect.stringMatching(/^SELECT 1 in /) });
    expect(body.checks.log).toMatchObject({
      ok: true,
      detail: expect.stringContaining(`file log: an entry on ${HEALTH_TOPIC}`),
    });
    expect([status, body.healthy, body.mode]).toEqual([200, true, 'dual-write']);
    expect((await log.stats(HEALTH_TOPIC)).entries).toBe(before + 1);
  });

  it('is 503 naming postgres while PostgreSQL is unreachable, and 200 again once it is back', async () => {
    await proxy.stop();
    const down = await health();
    expect(down.status).toBe(503);
    expect(down.body.checks.postgres!.ok).toBe(false);
    expect(down.body.checks.log!.ok).toBe(true);
    await proxy.start();
    const up = await health();
    expect([up.status, up.body.checks.postgres!.ok]).toEqual([200, true]);
  });

  it('answers 503 within its timeout while PostgreSQL hangs', async () => {
    proxy.hang();
    try {
      const started = performance.now();
      const { status, body } = await health();
      expect(performance.now() - started).toBeLessThan(timeoutMs + 1_000);
      expect(status).toBe(503);
      expect(body.checks.postgres).toEqual({ ok: false, detail: `no answer within ${timeoutMs} ms` });
    } finally {
      await proxy.start();
    }
  });
});

describe('/health of a log that refuses appends', () => {
  it('is 503 naming the log', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-health-'));
    const pool = createPool(inject('databaseUrl'), { max: 1 });
    const log = await createFileLog(path.join(dir, 'log'));
    try {
      const check = tierflowHealth({
        mode: 'wal',
        pool,
        log,
        settings: { maxLagSeconds: 300, timeoutMs: 2_000 },
      });
      expect((await check()).healthy).toBe(true);
      await log.close();
      const report = await check();
      expect(report.healthy).toBe(false);
      expect(report.checks.postgres!.ok).toBe(true);
      expect(report.checks.log!.ok).toBe(false);
    } finally {
      await pool.end();
      await log.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the log probe', () => {
  it('keeps the health topic within its retention however often it runs', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-health-'));
    // Small segments, so retention (which drops whole sealed segments) has some to drop.
    const log = await createFileLog(path.join(dir, 'log'), { segmentBytes: 256 });
    try {
      const probe = logProbe(log, { retention: { maxBytes: 1024 }, retentionEveryMs: 0 });
      for (let i = 0; i < 200; i++) expect((await probe.run()).log!.ok).toBe(true);
      const stats = await log.stats(HEALTH_TOPIC);
      expect(stats.bytes).toBeLessThanOrEqual(1024 + 256 + 128);
      expect(stats.entries).toBeLessThan(100);
      expect(stats.last).toBe(199n);
    } finally {
      await log.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
