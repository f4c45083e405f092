import type { Command } from 'commander';
import { ConfigError } from '../../core/index.ts';
import { findDataset } from '../../datasets/index.ts';
import { decodeEvent } from '../../events/data-written-event.ts';
import { isColumnarEvent } from '../../events/event-columnar.ts';
import type { LogEntry, ReadFrom } from '../../log/log.ts';
import { defaultLogSpec, openLog } from '../../log/open-log.ts';
import { resolveConfig } from '../../tierflow.ts';
import { configFrom, globalOptions } from '../context.ts';
import { renderTable } from '../table.ts';
import { LOG_SPEC_HELP } from '../log-spec-help.ts';

export async function withLog<T>(
  command: Command,
  work: (log: Awaited<ReturnType<typeof openLog>>) => Promise<T>,
): Promise<T> {
  const options = command.optsWithGlobals<{ log?: string }>();
  const spec = options.log ?? defaultLogSpec(resolveConfig(configFrom(globalOptions(command))).dataDir);
  const log = await openLog(spec);
  try {
    return await work(log);
  } finally {
    await log.close();
  }
}

export function parseFrom(text: string): ReadFrom {
  if (text === 'earliest' || text === 'latest') return text;
  if (/^\d+$/.test(text)) return BigInt(text);
  const date = new Date(text);
  if (Number.isNaN(date.getTime()))
    throw new ConfigError(`--from "${text}" is not earliest, latest, a position or an ISO time`);
  return date;
}

/**
 * A payload as text: a data-written event or WAL entry in the columnar wire format decoded to JSON
 * (int64 values as strings), other printable payloads as they are, anything else as base64.
 */
export function bodyOf(payload: Buffer): string {
  if (isColumnarEvent(payload)) {
    try {
      const event = decodeEvent(payload, findDataset);
      return JSON.stringify(event, (_key, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
    } catch (error) {
      return `undecodable event (${(error as Error).message}): base64:${payload.toString('base64')}`;
    }
  }
  const printable = /^[\x20-\x7e\t\n\r\u00a0-\uffff]*$/.test(payload.toString('utf8'));
  return printable ? payload.toString('utf8') : `base64:${payload.toString('base64')}`;
}

function show(entry: LogEntry, format: string): string {
  const body = bodyOf(Buffer.from(entry.payload));
  if (format === 'json') {
    return JSON.stringify({
      position: String(entry.position),
      timestamp: new Date(entry.timestamp).toISOString(),
      key: entry.key ?? null,
      headers: entry.headers,
      payload: body,
    });
  }
  return `${entry.position}\t${new Date(entry.timestamp).toISOString()}\t${entry.key ?? '-'}\t${body}`;
}

export function registerLog(program: Command): void {
  const log = program
    .command('log')
    .description('inspect the configured log')
    .option('--log <spec>', LOG_SPEC_HELP);

  log
    .command('topics')
    .description('list topics with their size')
    .action(async (_options, command: Command) => {
      await withLog(command, async (l) => {
        const rows = [];
        for (const topic of await l.topics()) {
          const s = await l.stats(topic);
          rows.push([
            topic,
            s.entries,
            s.bytes,
            s.first === undefined ? '' : String(s.first),
            s.last === undefined ? '' : String(s.last),
          ]);
        }
        console.log(
          rows.length
            ? renderTable(['topic', 'entries', 'bytes', 'first', 'last'], rows)
            : `no topics in the ${l.backend} log`,
        );
      });
    });

  log
    .command('tail')
    .description('print entries of a topic')
    .argument('<topic>')
    .option('--from <where>', 'earliest, latest, a position or an ISO time', 'earliest')
    .option('--limit <n>', 'stop after n entries', (v) => Number.parseInt(v, 10))
    .option('--follow', 'keep waiting for new entries')
    .option('--format <format>', 'text or json', 'text')
    .action(
      async (
        topic: string,
        options: { from: string; limit?: number; follow?: boolean; format: string },
        command: Command,
      ) => {
        await withLog(command, async (l) => {
          const controller = new AbortController();
          const stop = () => controller.abort();
          process.once('SIGINT', stop);
          let printed = 0;
          try {
            for await (const batch of l.read(topic, {
              from: parseFrom(options.from),
              follow: Boolean(options.follow),
              signal: controller.signal,
            })) {
              for (const entry of batch) {
                console.log(show(entry, options.format));
                if (options.limit !== undefined && ++printed >= options.limit) return;
              }
            }
          } finally {
            process.off('SIGINT', stop);
          }
        });
      },
    );

  log
    .command('stats')
    .description('size of a topic, and the committed position and lag of consumer groups')
    .argument('<topic>')
    .option('--group <name...>', 'consumer groups to report')
    .action(async (topic: string, options: { group?: string[] }, command: Command) => {
      await withLog(command, async (l) => {
        const s = await l.stats(topic);
        console.log(
          renderTable(
            ['topic', 'backend', 'entries', 'bytes', 'first', 'last'],
            [[topic, l.backend, s.entries, s.bytes, String(s.first ?? ''), String(s.last ?? '')]],
          ),
        );
        if (options.group?.length) {
          const rows = [];
          for (const group of options.group)
            rows.push([
              group,
              String((await l.committed(group, topic)) ?? 'none'),
              await l.lag(group, topic),
            ]);
          console.log();
          console.log(renderTable(['group', 'committed', 'lag'], rows));
        }
      });
    });
}
