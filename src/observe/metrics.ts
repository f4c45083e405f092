/**
 * The small metrics port every module reports through. The default does nothing, so no module
 * depends on prom-client; the server plugs a Prometheus implementation in.
 */
export type Labels = Readonly<Record<string, string>>;

export interface Metrics {
  /** Adds `value` (default 1) to a counter. */
  count(name: string, labels?: Labels, value?: number): void;
  /** Records one observation of a histogram, in the unit its name carries. */
  observe(name: string, value: number, labels?: Labels): void;
  /** Sets a gauge. */
  gauge(name: string, value: number, labels?: Labels): void;
  /**
   * Runs `refresh` before every scrape, so gauges show the world when read, not when last touched
   * (a lag is the age of what is still not done). Returns the function that unregisters it. A
   * refresh that fails leaves its gauges as they were and is counted (metrics_refresh_errors_total).
   */
  onScrape(refresh: () => void | Promise<void>): () => void;
}

export const noopMetrics: Metrics = {
  count() {},
  observe() {},
  gauge() {},
  onScrape: () => () => {},
};

/** Metric names live here, once, with their unit in the name. */
export const METRIC = {
  hotWriteLatency: 'hot_write_latency_seconds',
  coldWriteLatency: 'cold_write_latency_seconds',
  eventPublishLatency: 'event_publish_latency_seconds',
  eventsPublished: 'events_published_total',
  /** Events whose hot transaction rolled back after their append; labels reason. */
  eventsDiscarded: 'cold_events_discarded_total',
  /** Outbox relay tries that found the relay lock taken by open fast-path transactions. */
  outboxRelayBusy: 'outbox_relay_busy_total',
  coldLag: 'cold_storage_lag_seconds',
  breakerState: 'circuit_breaker_state',
  breakerTransitions: 'circuit_breaker_transitions_total',
  /** Cold path: log entries after its consumer group's committed position (not yet in the lake); refreshed on scrape. */
  coldBacklog: 'cold_storage_backlog_entries',
  /** Cold path: rows read from the log and held in memory for the next lake commit. */
  coldBufferedRows: 'cold_storage_buffered_rows',
  bytesWritten: 'bytes_written_total',
  recordsWritten: 'records_written_total',
  writeErrors: 'write_errors_total',
  hotPoolErrors: 'hot_pool_errors_total',
  /** Log: time from append call to durable acknowledgement; labels backend, topic. */
  walAppendLatency: 'wal_append_latency_seconds',
  /** Log: bytes stored per topic; labels backend, topic. */
  walSize: 'wal_size_bytes',
  /** Log: entries appended; labels backend, topic. */
  walEntries: 'wal_entries_total',
  /** Log: entries after a group's committed position; labels backend, group, topic. */
  consumerLag: 'log_consumer_lag_entries',
  /** WAL processors: time to apply one batch to a tier; labels tier. */
  walApplyLatency: 'wal_apply_latency_seconds',
  /** WAL processors: entries after a processor's checkpoint; labels tier. */
  walProcessorLagEntries: 'wal_processor_lag_entries',
  /** WAL processors: age of the newest entry applied, when it was applied; labels tier. */
  walProcessorLagSeconds: 'wal_processor_lag_seconds',
  /** WAL processors: seconds since the checkpoint last moved; labels tier. */
  walCheckpointAge: 'wal_checkpoint_age_seconds',
  /** Replay: entries re-applied; labels target. */
  replayOperations: 'replay_operations_total',
  /** Entries a pipeline could not apply and put on the dead-letter topic; labels pipeline, topic, code. */
  deadLetters: 'dead_letters_total',
  /** Pipelines stopped by an error no retry can help (fix, then restart); labels pipeline. */
  pipelineStopped: 'pipeline_stopped_total',
  /** 1 while this process owns the work a lease guards (the schema's hot processor); labels tier. */
  processorActive: 'wal_processor_active',
  /** Log: appends refused (fsync failure, full disk, server error); labels backend, reason. */
  walAppendErrors: 'wal_append_errors_total',
  /** Log retention: entries dropped; labels backend, topic. */
  logRetentionDroppedEntries: 'log_retention_dropped_entries_total',
  /** Log retention: bytes dropped (estimated if appends land meanwhile); labels backend, topic. */
  logRetentionDroppedBytes: 'log_retention_dropped_bytes_total',
  /** Log retention: topic passes that failed; labels backend, topic. */
  logRetentionErrors: 'log_retention_errors_total',
  /** Log retention: when the last pass without an error ended, in seconds since the epoch; labels backend. */
  logRetentionLastPass: 'log_retention_last_success_timestamp_seconds',
  /** Log: topic streams found recreated or with unsafe settings; labels backend, topic, reason. */
  logStreamCheckFailures: 'log_stream_check_failures_total',
} as const;
