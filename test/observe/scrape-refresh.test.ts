import { describe, expect, it } from 'vitest';
import { PrometheusMetrics } from '../../src/observe/prometheus.ts';

describe('gauges refreshed when scraped', () => {
  it('runs every refresher before rendering, so a gauge shows the world at the scrape', async () => {
    const metrics = new PrometheusMetrics({ processMetrics: false });
    let age = 1;
    metrics.onScrape(() => metrics.gauge('cold_storage_lag_seconds', age));
    expect(await metrics.text()).toMatch(/^cold_storage_lag_seconds 1$/m);
    age = 3600;
    expect(await metrics.text()).toMatch(/^cold_storage_lag_seconds 3600$/m);
  });

  it('answers the scrape when a refresher fails or hangs, counting it, and stops calling one unregistered', async () => {
    const metrics = new PrometheusMetrics({ processMetrics: false, refreshTimeoutMs: 50 });
    let calls = 0;
    const unregister = metrics.onScrape(() => {
      calls++;
    });
    metrics.onScrape(() => Promise.reject(new Error('PostgreSQL is down')));
    metrics.onScrape(() => new Promise<void>(() => {}));
    expect(await metrics.text()).toMatch(/^metrics_refresh_errors_total 2$/m);
    unregister();
    await metrics.text();
    expect(calls).toBe(1);
  });
});
