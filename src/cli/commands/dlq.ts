import type { Command } from 'commander';
import { ConfigError } from '../../core/index.ts';
import type { DeadLetter } from '../../events/dead-letters.ts';
import { DeadLetters } from '../../events/dead-letters.ts';
import { renderTable } from '../table.ts';
import { bodyOf, withLog } from './log.ts';
import { LOG_SPEC_HELP } from '../log-spec-help.ts';

const LOG_OPTION = ['--log <spec>', LOG_SPEC_HELP] as const;

function positionsOf(texts: readonly string[]): bigint[] {
  return texts.map((t) => {
    if (!/^\d+$/.test(t)) throw new ConfigError(`"${t}" is not a dead-letter position`);
    return BigInt(t);
  });
}

function pick(letters: readonly DeadLetter[], positions: readonly bigint[]): DeadLetter[] {
  return positions.map((p) => {
    const letter = letters.find((l) => l.position === p);
    if (!letter) throw new ConfigError(`no dead letter at position ${p} (see tierflow dlq ls)`);
    return letter;
  });
}

/**
 * `tierflow dlq ls|show|replay`: the entries pipelines could not apply (the dead-letter topic of
 * the log), why, and putting them back once the cause is mended.
 */
export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description('entries a pipeline could not apply: list, read, replay');

  dlq
    .command('ls')
    .description('the dead letters not yet replayed (--all: every one)')
    .option('--all', 'also those replayed already')
    .option('--format <format>', 'table or json', 'table')
    .option(...LOG_OPTION)
    .action(async (options: { all?: boolean; format: string }, command: Command) => {
      await withLog(command, async (log) => {
        const letters = (await new DeadLetters(log).list()).filter((l) => options.all || !l.replayed);
        if (options.format === 'json') {
          for (const l of letters)
            console.log(
              JSON.stringify({
                position: String(l.position),
                topic: l.topic,
                sourcePosition: String(l.sourcePosition),
                pipeline: l.pipeline,
                code: l.code,
                reason: l.reason,
                at: l.at.toISOString(),
                replayed: l.replayed,
              }),
            );
          return;
        }
        if (letters.length === 0) {
          console.log('no dead letters');
          return;
        }
        console.log(
          renderTable(
            ['position', 'at', 'pipeline', 'source', 'code', 'replayed', 'reason'],
            letters.map((l) => [
              String(l.position),
              l.at.toISOString(),
              l.pipeline,
              `${l.topic}@${l.sourcePosition}`,
              l.code,
              l.replayed ? 'yes' : '',
              l.reason,
            ]),
          ),
        );
      });
    });

  dlq
    .command('show')
    .description('one dead letter: where it came from, why, its headers and its payload')
    .argument('<position>', 'its position in the dead-letter topic')
    .option(...LOG_OPTION)
    .action(async (position: string, _options: unknown, command: Command) => {
      await withLog(command, async (log) => {
        const [letter] = pick(await new DeadLetters(log).list(), positionsOf([position]));
        console.log(
          JSON.stringify(
            {
              position: String(letter!.position),
              topic: letter!.topic,
              sourcePosition: String(letter!.sourcePosition),
              pipeline: letter!.pipeline,
              code: letter!.code,
              reason: letter!.reason,
              at: letter!.at.toISOString(),
              replayed: letter!.replayed,
              key: letter!.key ?? null,
              headers: letter!.headers,
              payload: bodyOf(Buffer.from(letter!.payload)),
            },
            null,
            2,
          ),
        );
      });
    });

  dlq
    .command('replay')
    .description(
      'append dead letters to their topics again, once the cause is mended; they are marked replayed',
    )
    .argument('[positions...]', 'dead-letter positions (see tierflow dlq ls)')
    .option('--all', 'every dead letter not replayed yet')
    .option(...LOG_OPTION)
    .action(async (positions: string[], options: { all?: boolean }, command: Command) => {
      if (options.all === positions.length > 0)
        throw new ConfigError('name dead-letter positions, or --all, not both');
      await withLog(command, async (log) => {
        const deadLetters = new DeadLetters(log);
        const letters = await deadLetters.list();
        const chosen = options.all
          ? letters.filter((l) => !l.replayed)
          : pick(letters, positionsOf(positions));
        const done = chosen.find((l) => l.replayed);
        if (done) throw new ConfigError(`dead letter ${done.position} was replayed already`);
        const { appended, marked } = await deadLetters.replay(chosen);
        console.log(
          `replayed ${marked} dead letter(s): ${appended} entr(ies) appended to their topics again`,
        );
      });
    });
}
