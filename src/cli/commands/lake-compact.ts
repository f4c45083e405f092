import path from 'node:path';
import type { Command } from 'commander';
import { DirectoryLockedError } from '../../core/dir-lock.ts';
import { allDatasets, findDataset } from '../../datasets/index.ts';
import { compactDataset } from '../../lake/compaction.ts';
import { LakeWriter } from '../../lake/lake-writer.ts';
import { manifestScopes } from '../../lake/manifest.ts';
import { renderTable } from '../table.ts';
import { lakeRoot } from './lake.ts';

/**
 * `tierflow lake compact`: added under the `lake` command. Compacts every scope of the lake (scope
 * 0, and each source partition with manifests of its own), one after another, each through its
 * own writer and lock. A scope whose writer is running (a cold consumer owns that partition) is
 * skipped and named, and the command exits 1: run it again when that writer has stopped.
 */
export function registerLakeCompact(lake: Command): void {
  lake
    .command('compact')
    .description(
      'merge the small files of each partition (latest version per key), retire the old ones; every scope',
    )
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
        const root = lakeRoot(command);
        const scopes = new Set([0]);
        for (const dataset of datasets)
          for (const scope of await manifestScopes(path.join(root, dataset.name))) scopes.add(scope);
        const rows = [];
        const skipped: string[] = [];
        for (const scope of [...scopes].sort((a, b) => a - b)) {
          let writer: LakeWriter;
          try {
            writer = await LakeWriter.open(root, { partition: scope });
          } catch (error) {
            if (!(error instanceof DirectoryLockedError)) throw error;
            skipped.push(`scope ${scope}: skipped, ${error.message}`);
            continue;
          }
          await using _ = writer;
          for (const dataset of datasets) {
            const result = await compactDataset(writer, dataset, {
              graceMs: options.graceMinutes * 60_000,
              tombstoneRetentionMs: options.tombstoneDays * 86_400_000,
            });
            for (const p of result.partitions)
              rows.push([dataset.name, scope, p.partition, p.filesBefore, p.rowsBefore, p.rowsAfter]);
            if (result.deletedRetired > 0)
              console.log(`${dataset.name} scope ${scope}: deleted ${result.deletedRetired} retired files`);
          }
        }
        console.log(
          rows.length
            ? renderTable(
                ['dataset', 'scope', 'partition', 'files before', 'rows before', 'rows after'],
                rows,
              )
            : 'nothing to compact',
        );
        for (const line of skipped) console.error(line);
        if (skipped.length > 0) process.exitCode = 1;
      },
    );
}
