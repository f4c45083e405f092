import type { Labels, Metrics } from '../src/observe/metrics.ts';

/** Sum and count of one histogram's observations. */
export interface HistogramSum {
  sum: number;
  count: number;
}

/**
 * Metrics kept in memory for a benchmark: the sums and counts of histogram observations, and a
 * hook on gauges. Counters are dropped; nothing scrapes, so refreshers registered with onScrape
 * never run.
 */
export class MemoryMetrics implements Metrics {
  readonly sums = new Map<string, HistogramSum>();
  onGauge: ((name: string, value: number) => void) | undefined;

  count(_name: string, _labels?: Labels, _value?: number): void {}

  observe(name: string, value: number, _labels?: Labels): void {
    const s = this.sums.get(name) ?? { sum: 0, count: 0 };
    s.sum += value;
    s.count += 1;
    this.sums.set(name, s);
  }

  gauge(name: string, value: number, _labels?: Labels): void {
    this.onGauge?.(name, value);
  }

  onScrape(): () => void {
    return () => {};
  }

  snapshot(): Map<string, HistogramSum> {
    return new Map([...this.sums].map(([k, v]) => [k, { ...v }]));
  }
}

/** A histogram's sum and count between two snapshots. */
export function histogramDelta(
  before: Map<string, HistogramSum>,
  after: Map<string, HistogramSum>,
  name: string,
): HistogramSum {
  const a = after.get(name) ?? { sum: 0, count: 0 };
  const b = before.get(name) ?? { sum: 0, count: 0 };
  return { sum: a.sum - b.sum, count: a.count - b.count };
}
