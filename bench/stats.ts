/** The q-quantile (0–1) of samples, by nearest rank. */
export function percentile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Milliseconds rounded to a tenth, as the reports print them. */
export function ms(n: number): number {
  return Math.round(n * 10) / 10;
}
