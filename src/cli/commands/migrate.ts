import type { Command } from 'commander';
import { allDatasets } from '../../datasets/index.ts';
import { globalOptions, withTierflow } from '../context.ts';
import { renderTable } from '../table.ts';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('create or evolve the table of every dataset (idempotent)')
    .action(async (_options, command: Command) => {
      await withTierflow(
        globalOptions(command),
        async (tf) => {
          const outcomes = await tf.hot.migrate(allDatasets);
          console.log(
            renderTable(
              ['dataset', 'version', 'action'],
              outcomes.map((o) => [o.dataset, o.version, o.action]),
            ),
          );
          console.log(`schema "${tf.schema}" is up to date`);
        },
        { migrate: false },
      );
    });
}
