import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Labels, Metrics } from './metrics.ts';

const HELP: Record<string, string> = {
  hot_write_latency_seconds: 'Time of one hot-tier write transaction',
  cold_write_latency_seconds: 'Time of one lake commit',
  event_publish_latency_seconds: 'Time to append data-written events to the log (writer or outbox relay)',
  events_published_total:
    'Data-written events by result: ok (durable in the log), outbox (queued for the relay), error (append failed)',
  outbox_relay_busy_total:
    'Outbox relay tries that left their batch for later: fast-path transactions held the relay lock',
  cold_events_discarded_total:
    'Events the cold consumer did not write because their hot transaction rolled back',
  cold_storage_lag_seconds:
    'Age of the oldest event not yet in the lake (log time of the first entry after the group commit), as of the scrape',
  cold_storage_backlog_entries:
    'Log entries after the cold consumer group committed position: events not yet in the lake, as of the scrape',
  cold_storage_buffered_rows:
    'Rows the cold consumer has read from the log and holds in memory for its next lake commit',
  circuit_breaker_state: 'Circuit breaker state: 0 closed, 1 open, 2 half-open',
  circuit_breaker_transitions_total: 'Circuit breaker state changes',
  records_written_total: 'Rows written, by repository and tier',
  write_errors_total: 'Failed writes, by type and tier',
  bytes_written_total: 'Bytes written, by tier',
  wal_append_latency_seconds: 'Time from a log append to its durable acknowledgement',
  wal_size_bytes: 'Bytes stored per log topic',
  wal_entries_total: 'Entries appended to the log',
  log_consumer_lag_entries: 'Entries after a consumer group committed position',
  wal_append_errors_total: 'Log appends refused',
  log_retention_dropped_entries_total: 'Log entries dropped by retention',
  log_retention_dropped_bytes_total: 'Log bytes dropped by retention (estimated if appends land meanwhile)',
  log_retention_errors_total: 'Log retention passes of a topic that failed',
  log_retention_last_success_timestamp_seconds: 'When the last log retention pass without an error ended',
  log_stream_check_failures_total: 'Topic streams found recreated or with unsafe settings, by reason',
  wal_apply_latency_seconds: 'Time for a WAL processor to apply one batch to its tier',
  wal_processor_lag_entries: 'WAL entries after a processor checkpoint',
  wal_processor_lag_seconds:
    'Age of the oldest WAL entry a processor has not applied yet (log time of the first entry after its checkpoint), as of the scrape',
  wal_checkpoint_age_seconds: 'Seconds since a WAL processor checkpoint last moved',
  replay_operations_total: 'WAL entries re-applied by replay, by target',
  hot_pool_errors_total: 'Errors of idle PostgreSQL connections',
  metrics_refresh_errors_total: 'Scrape-time gauge refreshes that failed; those gauges show their last value',
  dead_letters_total: 'Log entries a pipeline could not apply, put on the dead-letter topic with the reason',
  pipeline_stopped_total:
    'Pipelines stopped by an error no retry can help; they stay stopped until restarted',
  wal_processor_active: '1 while this process holds the lease of the schema hot processor, else 0',
};

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The Metrics port backed by prom-client. A metric is created on first use with the label names
 * of that use; every later use of the name must pass the same labels (tierflow's do).
 */
export class PrometheusMetrics implements Metrics {
  readonly registry = new Registry();
  private readonly counters = new Map<string, Counter>();
  private readonly gauges = new Map<string, Gauge>();
  private readonly histograms = new Map<string, Histogram>();
  private readonly refreshers = new Set<() => void | Promise<void>>();

  private readonly refreshTimeoutMs: number;
  private readonly inFlight = new Map<() => void | Promise<void>, Promise<void>>();

  constructor(options: { processMetrics?: boolean; refreshTimeoutMs?: number } = {}) {
    this.refreshTimeoutMs = options.refreshTimeoutMs ?? 2_000;
    if (options.processMetrics ?? true)
      collectDefaultMetrics({ register: this.registry, prefix: 'tierflow_process_' });
  }

  count(name: string, labels: Labels = {}, value = 1): void {
    let metric = this.counters.get(name);
    if (!metric)
      this.counters.set(
        name,
        (metric = new Counter({
          name,
          help: HELP[name] ?? name,
          labelNames: Object.keys(labels),
          registers: [this.registry],
        })),
      );
    metric.inc(labels, value);
  }

  observe(name: string, value: number, labels: Labels = {}): void {
    let metric = this.histograms.get(name);
    if (!metric) {
      this.histograms.set(
        name,
        (metric = new Histogram({
          name,
          help: HELP[name] ?? name,
          labelNames: Object.keys(labels),
          buckets: BUCKETS,
          registers: [this.registry],
        })),
      );
    }
    metric.observe(labels, value);
  }

  gauge(name: string, value: number, labels: Labels = {}): void {
    let metric = this.gauges.get(name);
    if (!metric)
      this.gauges.set(
        name,
        (metric = new Gauge({
          name,
          help: HELP[name] ?? name,
          labelNames: Object.keys(labels),
          registers: [this.registry],
        })),
      );
    metric.set(labels, value);
  }

  onScrape(refresh: () => void | Promise<void>): () => void {
    const entry = () => refresh();
    this.refreshers.add(entry);
    return () => this.refreshers.delete(entry);
  }

  /**
   * The Prometheus text exposition of every metric, after every scrape refresher has run. A
   * refresher that fails (PostgreSQL down, say) leaves its gauges as they were and is counted in
   * `metrics_refresh_errors_total`: the scrape still answers, since an outage is when metrics matter.
   */
  async text(): Promise<string> {
    const results = await Promise.allSettled([...this.refreshers].map((r) => this.bounded(r)));
    const failed = results.filter((r) => r.status === 'rejected').length;
    if (failed > 0) this.count('metrics_refresh_errors_total', {}, failed);
    return this.registry.metrics();
  }

  /** A refresher that hangs (PostgreSQL not answering) counts as failed after `refreshTimeoutMs`; the scrape goes on. */
  private bounded(refresh: () => void | Promise<void>): Promise<void> {
    // A refresh still running from an earlier scrape is joined, not started again: a hung
    // PostgreSQL gets one query per refresher, not one per scrape.
    let running = this.inFlight.get(refresh);
    if (!running) {
      running = Promise.resolve()
        .then(refresh)
        .finally(() => this.inFlight.delete(refresh));
      this.inFlight.set(refresh, running);
    }
    return this.withTimeout(running);
  }

  private async withTimeout(running: Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        running,
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error('scrape refresh timed out')), this.refreshTimeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
