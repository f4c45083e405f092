import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { PortInUseError } from '../../src/server/errors.ts';
import { METRIC } from '../../src/observe/metrics.ts';
import { PrometheusMetrics } from '../../src/observe/prometheus.ts';
import { startStatusServer } from '../../src/server/http-server.ts';

describe('status server', () => {
  it('serves /metrics in Prometheus text format and /health as JSON', async () => {
    const metrics = new PrometheusMetrics({ processMetrics: false });
    metrics.count(METRIC.recordsWritten, { repository: 'trades', tier: 'hot' }, 3);
    metrics.observe(METRIC.hotWriteLatency, 0.002, { dataset: 'trades' });
    metrics.gauge(METRIC.breakerState, 1, { breaker: 'cold' });
    let healthy = true;
    const server = await startStatusServer({
      port: 0,
      metrics,
      health: async () => ({ healthy, backlog: 5n }),
    });
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const text = await (await fetch(`${base}/metrics`)).text();
      expect(text).toContain('# TYPE records_written_total counter');
      expect(text).toContain('records_written_total{repository="trades",tier="hot"} 3');
      expect(text).toContain('hot_write_latency_seconds_bucket{le="0.0025",dataset="trades"} 1');
      expect(text).toContain('circuit_breaker_state{breaker="cold"} 1');
      const ok = await fetch(`${base}/health`);
      expect([ok.status, await ok.json()]).toEqual([200, { healthy: true, backlog: '5' }]);
      healthy = false;
      expect((await fetch(`${base}/health`)).status).toBe(503);
      expect((await fetch(`${base}/nope`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('fails with PortInUseError naming host and port when the port is taken, instead of moving', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as AddressInfo).port;
    try {
      const started = startStatusServer({
        port,
        metrics: new PrometheusMetrics({ processMetrics: false }),
        health: async () => ({ healthy: true }),
      });
      await expect(started).rejects.toBeInstanceOf(PortInUseError);
      await expect(started).rejects.toMatchObject({
        code: 'PORT_IN_USE',
        host: '127.0.0.1',
        port,
        message: expect.stringContaining(`127.0.0.1:${port}`),
        cause: expect.objectContaining({ code: 'EADDRINUSE' }),
      });
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});
