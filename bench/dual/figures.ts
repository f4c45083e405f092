import type { Figure } from '../report.ts';
import { ms, percentile } from '../stats.ts';
import { ROWS } from './config.ts';
import type { ColdLag } from './cold-lag.ts';
import type { SeparateProcess } from './separate-process.ts';
import type { Throughput } from './throughput.ts';

/** What every part measured, for the figures. */
export interface DualResults {
  throughput: Throughput;
  outboxOnlyRowsPerS: number;
  separate: SeparateProcess;
  coldLag: ColdLag;
}

/** The suite's figures, in the order the table and the JSON line show them. */
export function dualFigures({ throughput: t, outboxOnlyRowsPerS, separate, coldLag }: DualResults) {
  const vsHotOnly = (value: number): Figure => ({ value, unit: 'rows/s', reference: 'hot_only_rows_per_s' });
  const latency = (samples: number[], q: number, reference?: string): Figure => ({
    value: ms(percentile(samples, q)),
    unit: 'ms',
    ...(reference ? { reference } : {}),
  });
  return {
    hot_only_rows_per_s: { value: ROWS / t.refSeconds, unit: 'rows/s' },
    dual_write_rows_per_s: vsHotOnly(ROWS / t.totalSeconds),
    dual_write_only_rows_per_s: vsHotOnly(ROWS / t.writeSeconds),
    outbox_only_rows_per_s: vsHotOnly(outboxOnlyRowsPerS),
    dual_write_separate_rows_per_s: vsHotOnly(ROWS / separate.totalSeconds),
    hot_only_batch_p50_ms: latency(t.refLatencies, 0.5),
    hot_only_batch_p99_ms: latency(t.refLatencies, 0.99),
    dual_write_batch_p50_ms: latency(t.dualLatencies, 0.5, 'hot_only_batch_p50_ms'),
    dual_write_batch_p99_ms: latency(t.dualLatencies, 0.99, 'hot_only_batch_p99_ms'),
    dual_write_separate_batch_p99_ms: latency(separate.latencies, 0.99, 'hot_only_batch_p99_ms'),
    cold_lag_rows_per_s: { value: coldLag.rowsPerS, unit: 'rows/s' },
    cold_lag_p50_s: { value: percentile(coldLag.lags, 0.5), unit: 's' },
    cold_lag_p99_s: { value: percentile(coldLag.lags, 0.99), unit: 's' },
    cold_lag_max_s: { value: Math.max(...coldLag.lags), unit: 's' },
  } satisfies Record<string, Figure>;
}

/**
 * The done-when note: write throughput with the cold consumer running and keeping up against
 * hot-only. The end-to-end figure (until the lake holds the last row) adds the consumer's time
 * trigger once.
 */
export function doneWhen(figures: ReturnType<typeof dualFigures>, pairRatios: number[]): string {
  const hotOnly = figures.hot_only_rows_per_s.value;
  const ratio = figures.dual_write_only_rows_per_s.value / hotOnly;
  const endToEnd = figures.dual_write_rows_per_s.value / hotOnly;
  const sepRatio = figures.dual_write_separate_rows_per_s.value / hotOnly;
  const lagP99 = figures.cold_lag_p99_s.value;
  const sortedRatios = [...pairRatios].sort((a, b) => a - b).map((r) => r.toFixed(2));
  return (
    `done when: dual write ≥ 0.8 × hot-only: ${ratio.toFixed(3)} → ${ratio >= 0.8 ? 'met' : 'NOT met'} ` +
    `(until caught up: ${endToEnd.toFixed(3)}; segment ratios ${sortedRatios.join(' ≤ ')}) ` +
    `(stage 1 in its own process: ${sepRatio.toFixed(3)} → ${sepRatio >= 0.8 ? 'met' : 'NOT met'}); ` +
    `cold lag p99 ≤ 2 s: ${lagP99.toFixed(3)} s → ${lagP99 <= 2 ? 'met' : 'NOT met'}`
  );
}
