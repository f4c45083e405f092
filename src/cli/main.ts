import { Command, CommanderError } from 'commander';
import { registerDb } from './commands/db.ts';
import { registerDemo } from './commands/demo.ts';
import { registerDlq } from './commands/dlq.ts';
import { registerImport } from './commands/import.ts';
import { registerKafka } from './commands/kafka.ts';
import { registerLakeCompact } from './commands/lake-compact.ts';
import { registerLake } from './commands/lake.ts';
import { registerLog } from './commands/log.ts';
import { registerMigrate } from './commands/migrate.ts';
import { registerReconcile } from './commands/reconcile.ts';
import { registerServe } from './commands/serve.ts';
import { registerReplay, registerWal } from './commands/wal.ts';
import { reportError } from './report-error.ts';
import { handleSignals, SIGNAL_EXIT_CODES } from './signals.ts';

export function buildProgram(): Command {
  const program = new Command('tierflow')
    .description(
      'the storage layer of a trading and ML data platform: PostgreSQL hot tier, Parquet cold tier',
    )
    .option('--database-url <url>', 'PostgreSQL URL (default: $DATABASE_URL, else the embedded server)')
    .option('--data-dir <dir>', 'where embedded state lives (default: $TIERFLOW_DATA_DIR or .tierflow)')
    .option(
      '--schema <name>',
      'PostgreSQL schema of the dataset tables (default: $TIERFLOW_SCHEMA or tierflow)',
    )
    .option('--verbose', 'print stack traces of errors')
    .showHelpAfterError()
    .exitOverride();
  registerDemo(program);
  registerImport(program);
  registerMigrate(program);
  registerDb(program);
  registerLog(program);
  registerLakeCompact(registerLake(program));
  registerReconcile(program);
  registerServe(program);
  registerReplay(program);
  registerWal(program);
  registerDlq(program);
  registerKafka(program);
  return program;
}

/** Runs one command; returns the exit code. Handles SIGINT and SIGTERM while it runs (signals.ts). */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  const signals = handleSignals();
  try {
    await program.parseAsync(argv as string[]);
    if (signals.received) return SIGNAL_EXIT_CODES[signals.received];
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    // What fails because a signal closed the command's resources is not worth a report.
    if (signals.received) return SIGNAL_EXIT_CODES[signals.received];
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    return reportError(error, argv.includes('--verbose'));
  } finally {
    if (!signals.received) signals.dispose();
  }
}
