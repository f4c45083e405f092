import { tmpdir } from 'node:os';
import type { Command } from 'commander';
import { ConfigError } from '../../core/index.ts';
import { checkEntryToWal } from '../../stages/entry-checklist.ts';
import { allDatasets } from '../../datasets/index.ts';
import { globalOptions, withTierflow } from '../context.ts';
import { renderTable } from '../table.ts';
import { lakeRoot } from './lake.ts';
import { withLog } from './log.ts';
import { LOG_SPEC_HELP } from '../log-spec-help.ts';

export function registerMigrate(program: Command): void {
  const migrate = program
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

  migrate
    .command('check')
    .description('evaluate the checklist for entering the next stage, from live figures')
    .requiredOption('--to <stage>', 'the stage to enter: wal')
    .option('--log <spec>', LOG_SPEC_HELP)
    .option('--lake <dir>', 'lake root (default: $TIERFLOW_LAKE or <data dir>/lake)')
    .addHelpText('after', '\nExit code 1 when any check fails.')
    .action(async (options: { to: string }, command: Command) => {
      if (options.to !== 'wal')
        throw new ConfigError(`--to "${options.to}": the only stage with a checklist is wal`);
      const root = lakeRoot(command);
      await withTierflow(globalOptions(command), (tf) =>
        withLog(command, async (log) => {
          const results = await checkEntryToWal({ tf, log, lakeRoot: root, scratchDir: tmpdir() });
          console.log(
            renderTable(
              ['check', 'result', 'detail'],
              results.map((r) => [r.check, r.ok ? 'pass' : 'FAIL', r.detail]),
            ),
          );
          const failed = results.filter((r) => !r.ok).length;
          console.log(
            failed === 0
              ? 'ready for stage 2 (wal)'
              : `not ready: ${failed} of ${results.length} checks failed`,
          );
          if (failed > 0) process.exitCode = 1;
        }),
      );
    });
}
