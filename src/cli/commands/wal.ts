import path from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../core/index.ts';
import { findDataset } from '../../datasets/index.ts';
import type { Position } from '../../log/log.ts';
import type { EventSink } from '../../cold/event-sink.ts';
import { openLakeSink } from '../../cold/open-lake-sink.ts';
import { resolveConfig } from '../../tierflow.ts';
import { recordHistory } from '../../wal/history.ts';
import { replay } from '../../wal/replay.ts';
import { WAL_TOPIC } from '../../wal/wal-entry.ts';
import { configFrom, globalOptions, withTierflow } from '../context.ts';
import { renderTable } from '../table.ts';
import { parseFrom, withLog } from './log.ts';
import { LOG_SPEC_HELP } from '../log-spec-help.ts';

const LOG_OPTION = ['--log <spec>', LOG_SPEC_HELP] as const;

function parseTo(text: string | undefined): Position | Date | undefined {
  if (text === undefined) return undefined;
  const to = parseFrom(text);
  if (typeof to === 'bigint' || to instanceof Date) return to;
  throw new ConfigError(`--to "${text}" is not a sequence or an ISO time`);
}

/** `key=value,key=value` → an object. */
function parseKey(text: string): Record<string, string> {
  const key: Record<string, string> = {};
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--key "${text}": expected column=value[,column=value…]`);
    key[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return key;
}

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('re-apply the WAL from a sequence or time to the hot tier, the lake, or both (idempotent)')
    .requiredOption('--from <where>', 'a WAL sequence, an ISO time, or earliest')
    .option('--to <where>', 'last sequence (inclusive) or an ISO time (exclusive); default: the end now')
    .requiredOption('--target <target>', 'hot, cold or both')
    .option('--dataset <name...>', 'only these datasets')
    .option(...LOG_OPTION)
    .option('--lake <dir>', 'lake root (default: $TIERFLOW_LAKE or <data dir>/lake)')
    .action(
      async (
        options: { from: string; to?: string; target: string; dataset?: string[]; lake?: string },
        command: Command,
      ) => {
        if (!['hot', 'cold', 'both'].includes(options.target))
          throw new ConfigError(`--target "${options.target}" is not hot, cold or both`);
        for (const name of options.dataset ?? []) findDataset(name);
        const global = globalOptions(command);
        const dataDir = resolveConfig(configFrom(global)).dataDir;
        await withLog(command, async (log) => {
          const run = async (hot?: Parameters<typeof replay>[0]['hot']) => {
            let lake: (EventSink & { close(): Promise<void> }) | undefined;
            if (options.target !== 'hot')
              lake = await openLakeSink(
                options.lake ?? process.env.TIERFLOW_LAKE ?? path.join(dataDir, 'lake'),
                WAL_TOPIC,
                { replay: true },
              );
            try {
              return await replay({
                log,
                from: parseFrom(options.from),
                to: parseTo(options.to),
                datasets: options.dataset,
                hot,
                lake,
                datasetOf: findDataset,
              });
            } finally {
              await lake?.close();
            }
          };
          const result =
            options.target === 'cold'
              ? await run()
              : await withTierflow(global, (tf) => run(tf.hot), { mode: 'hot-only' });
          console.log(
            renderTable(
              ['target', 'entries', 'rows', 'hot rows changed', 'first', 'last'],
              [
                [
                  options.target,
                  result.entries,
                  result.rows,
                  options.target === 'cold' ? '' : result.hotApplied,
                  String(result.first ?? ''),
                  String(result.last ?? ''),
                ],
              ],
            ),
          );
        });
      },
    );
}

export function registerWal(program: Command): void {
  const wal = program
    .command('wal')
    .description('inspect the write-ahead log')
    .option(...LOG_OPTION);
  wal
    .command('history')
    .description('every change of one record, with its WAL sequence and time (the audit trail)')
    .requiredOption('--dataset <name>', 'dataset (table) name, e.g. market_data')
    .requiredOption(
      '--key <column=value,…>',
      'the primary key, e.g. symbol=AAPL,interval=1m,bucket_start=2024-03-04T14:30:00Z',
    )
    .option('--format <format>', 'table or json', 'table')
    .action(async (options: { dataset: string; key: string; format: string }, command: Command) => {
      const dataset = findDataset(options.dataset);
      await withLog(command, async (log) => {
        const versions = await recordHistory({
          log,
          dataset,
          key: parseKey(options.key),
          datasetOf: findDataset,
        });
        if (options.format === 'json') {
          for (const v of versions)
            console.log(
              JSON.stringify(
                { ...v, sequence: String(v.sequence), at: v.at.toISOString() },
                (_k, value: unknown) => (typeof value === 'bigint' ? value.toString() : value),
              ),
            );
          return;
        }
        if (versions.length === 0) {
          console.log('no change of this record in the WAL');
          return;
        }
        const columns = dataset.columns.map((c) => c.name).filter((c) => !dataset.primaryKey.includes(c));
        console.log(
          renderTable(
            ['entry', 'sequence', 'at', 'operation', 'origin', ...columns],
            versions.map((v) => [
              String(v.entry),
              String(v.sequence),
              v.at.toISOString(),
              v.operation,
              v.origin,
              ...columns.map((c) =>
                v.row[c] === undefined
                  ? ''
                  : typeof v.row[c] === 'object'
                    ? JSON.stringify(v.row[c])
                    : String(v.row[c]),
              ),
            ]),
          ),
        );
      });
    });
}
