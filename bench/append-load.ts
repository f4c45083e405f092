import { percentile } from './stats.ts';

/** What one append costs the caller: a function that resolves once the entries are durable. */
export type AppendOnce = () => Promise<unknown>;

export interface ClosedLoopOptions {
  /** Entries to issue in all. */
  total: number;
  /** Entries one append carries. Default 1. */
  perAppend?: number;
  /** Appenders, each awaiting its append before the next. Default 64. */
  appenders?: number;
  /** Stop issuing after this many seconds even if `total` was not reached. */
  maxSeconds?: number;
}

/** `appenders` concurrent loops until `total` entries were issued; the entries per second. */
export async function closedLoop(
  append: AppendOnce,
  options: ClosedLoopOptions,
): Promise<{ rate: number; issued: number }> {
  const perAppend = options.perAppend ?? 1;
  const deadline =
    options.maxSeconds === undefined ? Infinity : performance.now() + options.maxSeconds * 1000;
  let issued = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: options.appenders ?? 64 }, async () => {
      while (issued < options.total && performance.now() < deadline) {
        issued += perAppend;
        await append();
      }
    }),
  );
  return { rate: issued / ((performance.now() - started) / 1000), issued };
}

/**
 * Open loop at a fixed rate of one-entry appends: latency is measured from when an append was due,
 * not when it was sent, so a backend that falls behind the pace shows it.
 */
export async function openLoop(
  append: AppendOnce,
  rate: number,
  seconds: number,
): Promise<{ p50: number; p99: number; issued: number }> {
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const started = performance.now();
  const total = rate * seconds;
  let issued = 0;
  while (issued < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
    for (; issued < due; issued++) {
      const scheduled = started + (issued / rate) * 1000;
      pending.push(append().then(() => void latencies.push(performance.now() - scheduled)));
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(pending);
  return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), issued };
}

/** CPU time this process used (all its threads) while `work` ran, in ms. */
export async function withCpu<T>(work: () => Promise<T>): Promise<{ result: T; cpuMs: number }> {
  const before = process.cpuUsage();
  const result = await work();
  const used = process.cpuUsage(before);
  return { result, cpuMs: (used.user + used.system) / 1000 };
}
