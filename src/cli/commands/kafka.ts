import path from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../core/index.ts';
import { KafkaBroker, ensureJars, runKafkaTool } from '../../kafka-broker/index.ts';
import { resolveConfig } from '../../tierflow.ts';
import { configFrom, globalOptions } from '../context.ts';

function port(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0 || value > 65534)
    throw new ConfigError(`--port "${text}" is not a TCP port`);
  return value;
}

function brokerOf(command: Command): KafkaBroker {
  const options = command.optsWithGlobals<{ port?: number }>();
  const dataDir = resolveConfig(configFrom(globalOptions(command))).dataDir;
  return new KafkaBroker({ dir: path.join(dataDir, 'kafka'), port: options.port });
}

export function registerKafka(program: Command): void {
  const kafka = program
    .command('kafka')
    .description('run an Apache Kafka broker (KRaft, one node) fetched from Maven Central')
    .option('--port <port>', 'client port on 127.0.0.1 (controller: port + 1)', port, 9092);

  kafka
    .command('start')
    .description('fetch the broker once, format its storage once, start it and wait until it answers')
    .action(async (_options, command: Command) => {
      const broker = brokerOf(command);
      const { started, pid } = await broker.start((line) => console.log(line));
      console.log(
        `${started ? 'started' : 'already running'}: Kafka on ${broker.address} (pid ${pid}, data ${broker.settings.dir}, log ${broker.logFile}); TIERFLOW_LOG=${broker.url}`,
      );
    });

  kafka
    .command('stop')
    .description('stop the broker this data directory started (and nothing else)')
    .action(async (_options, command: Command) => {
      console.log((await brokerOf(command).stop()) ? 'stopped' : 'not running');
    });

  kafka
    .command('status')
    .description('show whether the broker this data directory started runs (exit 3 if not)')
    .action(async (_options, command: Command) => {
      const status = await brokerOf(command).status();
      console.log(
        status.running
          ? `running: Kafka ${status.version} on ${status.address} (pid ${status.pid}, data ${status.dir}, log ${status.logFile})`
          : `stopped (data ${status.dir})`,
      );
      if (!status.running) process.exitCode = 3;
    });

  kafka
    .command('tool')
    .description(
      "run one of Kafka's own tools from the fetched jars: consumer-groups, console-consumer, topics, get-offsets, configs, delete-records",
    )
    .argument('<name>', 'the tool, named as its kafka-<name>.sh script')
    .argument('[args...]', 'its arguments (put them after --)')
    .action(async (name: string, args: string[], _options, command: Command) => {
      const broker = brokerOf(command);
      const jars = await ensureJars(path.join(broker.settings.dir, 'jars'));
      const { code } = await runKafkaTool(jars, name, args, { inherit: true });
      process.exitCode = code;
    });
}
