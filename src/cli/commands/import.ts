import type { Command } from 'commander';
import { findDataset } from '../../datasets/index.ts';
import { importFile } from '../../importer/import-file.ts';
import { parseMapping } from '../../importer/mapping.ts';
import { formatOf } from '../../importer/sources.ts';
import { globalOptions, withTierflow } from '../context.ts';
import { formatNumber } from '../table.ts';

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerImport(program: Command): void {
  program
    .command('import')
    .description('import a CSV or NDJSON file into a dataset (all rows validated before any is written)')
    .argument('<dataset>', 'dataset name, e.g. market_data')
    .argument('<file>', 'CSV with a header row, or NDJSON')
    .option('--format <format>', 'csv or ndjson (default: from the file extension)')
    .option(
      '--map <source=column>',
      'map a source field to a column (repeatable, or comma-separated)',
      collect,
      [],
    )
    .option(
      '--set <column=value>',
      'set a column to a constant (repeatable, or comma-separated)',
      collect,
      [],
    )
    .option('--batch-size <n>', 'rows per transaction', (v) => Number.parseInt(v, 10), 5_000)
    .option('--dry-run', 'validate only, write nothing')
    .addHelpText(
      'after',
      '\nExample (S&P 500 daily bars from vega-datasets):\n' +
        '  tierflow import market_data node_modules/vega-datasets/data/sp500-2000.csv \\\n' +
        '    --map date=bucket_start --set symbol=SPX,interval=1d,source=vega-datasets',
    )
    .action(async (datasetName: string, file: string, options, command: Command) => {
      const dataset = findDataset(datasetName);
      const format = formatOf(file, options.format as string | undefined);
      const mapping = parseMapping(dataset, options.map as string[], options.set as string[]);
      const started = performance.now();
      await withTierflow(globalOptions(command), async (tf) => {
        const summary = await importFile(tf.repository(dataset.name), {
          file,
          format,
          mapping,
          batchSize: options.batchSize as number,
          dryRun: Boolean(options.dryRun),
        });
        const seconds = (performance.now() - started) / 1000;
        if (summary.ignoredFields.length > 0)
          console.log(`ignored source fields: ${summary.ignoredFields.join(', ')}`);
        if (options.dryRun) {
          console.log(
            `${formatNumber(summary.records)} records of ${file} are valid for ${dataset.name} (dry run, nothing written)`,
          );
          return;
        }
        console.log(
          `${formatNumber(summary.records)} records → ${dataset.name}: ${formatNumber(summary.applied)} inserted or changed, ` +
            `${formatNumber(summary.records - summary.applied)} already up to date (${seconds.toFixed(2)} s)`,
        );
      });
    });
}
