import type { Labels, Metrics } from './metrics.ts';

/** One call on the Metrics port, as data: what a worker thread sends to the thread that serves /metrics. */
export type MetricCall = [kind: 'count' | 'observe' | 'gauge', name: string, value: number, labels?: Labels];

/** Records the calls made on it until taken, to be replayed into the real Metrics elsewhere. */
export class RecordedMetrics implements Metrics {
  private calls: MetricCall[] = [];

  count(name: string, labels?: Labels, value = 1): void {
    this.calls.push(['count', name, value, labels]);
  }

  observe(name: string, value: number, labels?: Labels): void {
    this.calls.push(['observe', name, value, labels]);
  }

  gauge(name: string, value: number, labels?: Labels): void {
    this.calls.push(['gauge', name, value, labels]);
  }

  /** Scrapes happen on the thread that serves /metrics: nothing here is refreshed by them. */
  onScrape(): () => void {
    return () => {};
  }

  take(): MetricCall[] {
    const calls = this.calls;
    this.calls = [];
    return calls;
  }
}

export function replayMetrics(calls: readonly MetricCall[], into: Metrics): void {
  for (const [kind, name, value, labels] of calls) {
    if (kind === 'count') into.count(name, labels, value);
    else if (kind === 'observe') into.observe(name, value, labels);
    else into.gauge(name, value, labels);
  }
}
