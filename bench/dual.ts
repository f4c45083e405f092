import os from 'node:os';
import { report } from './report.ts';
import { BATCH, LAG_BATCHES_PER_S, LAG_SECONDS, ROWS, WRITERS } from './dual/config.ts';
import { measureColdLag } from './dual/cold-lag.ts';
import { eventCodecCost } from './dual/event-codec.ts';
import { doneWhen, dualFigures } from './dual/figures.ts';
import { measureOutboxOnly } from './dual/outbox-only.ts';
import { measureSeparateProcess } from './dual/separate-process.ts';
import type { DualBench } from './dual/setup.ts';
import { withDualBench } from './dual/setup.ts';
import { measureThroughput, warmUpReference } from './dual/throughput.ts';

/**
 * Stage 1's cost, in one run against the same PostgreSQL (each part in bench/dual/):
 *  1. reference: market_data upserts through the hot-only writer, batches of 1,000 fresh keys,
 *     one batch after the other, in ROUNDS segments interleaved with part 2's (stage 1 caught up
 *     and idle while a reference segment runs);
 *  2. the same rows through the dual-write writer with stage 1 running in this process:
 *     write throughput with the consumer keeping up, per-segment ratios, and the time until
 *     stage 1 has caught up after the last write (throughput.ts);
 *  2b. the same rows (fresh schema, fresh lake) through the dual-write writer with stage 1 in its
 *     own process (`tierflow serve --mode dual-write`), until its /health says caught up
 *     (separate-process.ts);
 *  3. cold lag at a steady 10,000 rows/s (10 batches of 1,000 per second, scheduled by time):
 *     for every batch, the time from its write acknowledgement to the lake commit holding its
 *     rows (cold-lag.ts).
 * Diagnostics beside part 2: the dual-write writer with stage 1 not running (outbox-only.ts), what
 * the outbox fallback costs inside the hot transaction alone; and what encoding and decoding one
 * batch's event costs (event-codec.ts).
 */
export async function run(): Promise<void> {
  await withDualBench(async (bench) => {
    printHeader(bench);
    await warmUpReference(bench);
    const outboxOnly = await measureOutboxOnly(bench);
    const codecNote = eventCodecCost(bench.inputs.main[0]!);
    const throughput = await measureThroughput(bench);
    const separate = await measureSeparateProcess(bench);
    const coldLag = await measureColdLag(bench);
    const figures = dualFigures({ throughput, outboxOnlyRowsPerS: outboxOnly.rowsPerS, separate, coldLag });
    const notes = [
      outboxOnly.note,
      codecNote,
      ...throughput.notes,
      ...separate.notes,
      coldLag.note,
      doneWhen(figures, throughput.pairRatios),
    ];
    if (bench.errors.length)
      notes.push(`stage 1 reported ${bench.errors.length} errors (retried); first: ${bench.errors[0]}`);
    report('dual', figures, notes);
  });
}

function printHeader(bench: DualBench): void {
  console.log(
    `dual benchmark: ${ROWS.toLocaleString()} market_data rows in batches of ${BATCH.toLocaleString()}` +
      `${WRITERS > 1 ? ` from ${WRITERS} concurrent writers (BENCH_WRITERS)` : ''}, ` +
      `then ${LAG_SECONDS} s at ${(LAG_BATCHES_PER_S * BATCH).toLocaleString()} rows/s ` +
      `(${bench.ref.databaseSource} PostgreSQL, ${os.cpus().length} cores)`,
  );
}
