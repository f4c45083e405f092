import type { Command } from 'commander';
import { ConfigError } from '../../core/index.ts';
import { allDatasets, findDataset } from '../../datasets/index.ts';
import { openLakeQuery } from '../../lake/duckdb-lake.ts';
import type { ReconcileReport } from '../../lake/reconcile.ts';
import { reconcile } from '../../lake/reconcile.ts';
import { globalOptions, withTierflow } from '../context.ts';
import { renderTable } from '../table.ts';
import { lakeRoot } from './lake.ts';

interface ReconcileCommandOptions {
  dataset?: string[];
  from?: string;
  to?: string;
  maxKeys: number;
}

export function registerReconcile(program: Command): void {
  program
    .command('reconcile')
    .description('prove the hot tables and the lake agree: rows and checksum per dataset and UTC day')
    .option('--dataset <name...>', 'datasets to compare (default: all)')
    .option('--from <date>', 'event time from, inclusive (a date or an ISO timestamp)')
    .option('--to <date>', 'event time to, exclusive')
    .option('--lake <dir>', 'lake root (default: $TIERFLOW_LAKE or <data dir>/lake)')
    .option('--max-keys <n>', 'differing keys to name per mismatched day', (v) => Number.parseInt(v, 10), 5)
    .addHelpText('after', '\nExit code 1 when any day differs, 0 when hot and lake agree.')
    .action(async (options: ReconcileCommandOptions, command: Command) => {
      if (!Number.isInteger(options.maxKeys) || options.maxKeys < 0) {
        throw new ConfigError('--max-keys must be a non-negative integer');
      }
      const datasets = options.dataset?.map((name) => findDataset(name)) ?? allDatasets;
      const root = lakeRoot(command);
      await withTierflow(globalOptions(command), async (tf) => {
        await using lake = await openLakeQuery(root, datasets);
        const report = await reconcile({
          pool: tf.hot.pool,
          schema: tf.schema,
          lake,
          datasets,
          from: options.from,
          to: options.to,
          maxKeys: options.maxKeys,
        });
        console.log(renderReport(report));
        if (!report.clean) process.exitCode = 1;
      });
    });
}

export function renderReport(report: ReconcileReport): string {
  if (report.days.length === 0) return 'nothing to compare: no rows in either tier for the range';
  const lines = [
    renderTable(
      ['dataset', 'day', 'hot rows', 'lake rows', 'status'],
      report.days.map((d) => [d.dataset, d.day, d.hotRows, d.lakeRows, d.status]),
    ),
  ];
  const mismatched = report.days.filter((d) => d.status === 'mismatch');
  if (mismatched.length > 0) {
    lines.push('', 'first differing keys:');
    for (const d of mismatched) {
      for (const diff of d.differences) {
        lines.push(`  ${d.dataset} ${d.day} ${diff.kind} ${JSON.stringify(diff.key)}`);
      }
    }
  }
  lines.push(
    '',
    mismatched.length > 0
      ? `${mismatched.length} of ${report.days.length} days differ`
      : `hot and lake agree on all ${report.days.length} days`,
  );
  return lines.join('\n');
}
