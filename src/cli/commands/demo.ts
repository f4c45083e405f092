import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { runFeed } from '../../feed/run-feed.ts';
import { globalOptions, withTierflow } from '../context.ts';
import { formatNumber, renderTable } from '../table.ts';

const int = (v: string) => Number.parseInt(v, 10);

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('write a deterministic synthetic trading session into every dataset and summarise it')
    .option('--symbols <n>', 'number of symbols', int, 20)
    .option('--minutes <n>', 'minutes of trading to simulate', int, 390)
    .option('--seed <n>', 'random seed (same seed, same data)', int, 42)
    .option('--batch-size <n>', 'rows per write batch', int, 5_000)
    .action(
      async (
        options: { symbols: number; minutes: number; seed: number; batchSize: number },
        command: Command,
      ) => {
        const global = globalOptions(command);
        const opened = performance.now();
        await withTierflow(global, async (tf) => {
          const where =
            tf.databaseSource === 'embedded'
              ? `embedded PostgreSQL (${global.dataDir ?? '.tierflow'})`
              : 'PostgreSQL at DATABASE_URL';
          console.log(
            `tierflow demo: ${options.symbols} symbols × ${options.minutes} minutes, seed ${options.seed}, into ${where}, schema "${tf.schema}" (ready in ${((performance.now() - opened) / 1000).toFixed(1)} s)`,
          );
          const bar = new cliProgress.SingleBar(
            {
              format: ' {bar} {percentage}% | minute {value}/{total} | {rows} rows | {rate} rows/s',
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(options.minutes, 0, { rows: 0, rate: 0 });
          const started = performance.now();
          let summary;
          try {
            summary = await runFeed(tf.repositories, options, (p) => {
              const seconds = (performance.now() - started) / 1000;
              bar.update(p.minute, {
                rows: formatNumber(p.rows),
                rate: formatNumber(Math.round(p.rows / Math.max(seconds, 1e-3))),
              });
            });
          } finally {
            bar.stop();
          }
          const rows = await Promise.all(
            Object.entries(summary.rows).map(
              async ([name, count]) => [name, count, await tf.repository(name).count()] as const,
            ),
          );
          rows.sort((a, b) => b[1] - a[1]);
          const total = rows.reduce((sum, r) => sum + r[1], 0);
          console.log();
          console.log(
            renderTable(
              ['dataset', 'rows written', 'rows in hot tier'],
              [...rows, ['total', total, rows.reduce((s, r) => s + r[2], 0)]],
            ),
          );
          console.log();
          console.log(
            `${formatNumber(total)} rows in ${summary.seconds.toFixed(2)} s: ${formatNumber(Math.round(total / summary.seconds))} rows/s`,
          );
        });
      },
    );
}
