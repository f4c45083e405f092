import type { Command } from 'commander';
import { allDatasets, findDataset } from '../../datasets/index.ts';
import { compactDataset } from '../../lake/compaction.ts';
import { LakeWriter } from '../../lake/lake-writer.ts';
import { renderTable } from '../table.ts';
import { lakeRoot } from './lake.ts';

/** `tierflow lake compact`: added under the `lake` command. */
export function registerLakeCompact(lake: Command): void {
  lake
    .command('compact')
    .description('merge the small files of each partition (latest version per key), retire the old ones')
    .option('--dataset <name...>', 'only these datasets')
    .option('--grace-minutes <n>', 'keep retired files this long for running readers', (v) => Number(v), 10)
    .option(
      '--tombstone-days <n>',
      'drop deletes older than this (datasets keyed by event time)',
      (v) => Number(v),
      7,
    )
    .action(
      async (
        options: { dataset?: string[]; graceMinutes: number; tombstoneDays: number },
        command: Command,
      ) => {
        const datasets = options.dataset ? options.dataset.map((d) => findDataset(d)) : allDatasets;
        await using writer = await LakeWriter.open(lakeRoot(command));
        const rows = [];
        for (const dataset of datasets) {
          const result = await compactDataset(writer, dataset, {
            graceMs: options.graceMinutes * 60_000,
            tombstoneRetentionMs: options.tombstoneDays * 86_400_000,
          });
          for (const p of result.partitions)
            rows.push([dataset.name, p.partition, p.filesBefore, p.rowsBefore, p.rowsAfter]);
          if (result.deletedRetired > 0)
            console.log(`${dataset.name}: deleted ${result.deletedRetired} retired files`);
        }
        console.log(
          rows.length
            ? renderTable(['dataset', 'partition', 'files before', 'rows before', 'rows after'], rows)
            : 'nothing to compact',
        );
      },
    );
}
