import { spawn } from 'node:child_process';
import { KafkaBrokerError } from './errors.ts';

/** Kafka's own command line tools, by the name of their kafka-*.sh script, run from the fetched jars. */
export const KAFKA_TOOLS: Readonly<Record<string, string>> = {
  'consumer-groups': 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand',
  'console-consumer': 'org.apache.kafka.tools.consumer.ConsoleConsumer',
  topics: 'org.apache.kafka.tools.TopicCommand',
  'get-offsets': 'org.apache.kafka.tools.GetOffsetShell',
  configs: 'org.apache.kafka.tools.ConfigCommand',
  'delete-records': 'org.apache.kafka.tools.DeleteRecordsCommand',
};

/** The java command line that runs Kafka tool `name` with `args` (printed by docs and the CLI). */
export function toolCommand(jars: string, name: string, args: readonly string[]): string[] {
  const main = KAFKA_TOOLS[name];
  if (!main)
    throw new KafkaBrokerError(
      `unknown Kafka tool "${name}" (known: ${Object.keys(KAFKA_TOOLS).join(', ')})`,
    );
  return ['java', '-Xmx256m', '-cp', `${jars}/*`, main, ...args];
}

/**
 * Runs a Kafka tool to completion. `inherit` passes its output through (the CLI); otherwise the
 * output is returned, and a non-zero exit rejects with it.
 */
export function runKafkaTool(
  jars: string,
  name: string,
  args: readonly string[],
  options: { inherit?: boolean; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [command, ...rest] = toolCommand(jars, name, args);
  return new Promise((resolve, reject) => {
    const child = spawn(command!, rest, {
      stdio: options.inherit ? 'inherit' : ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const result = { code: code ?? 1, stdout, stderr };
      if (code === 0 || options.inherit) resolve(result);
      else
        reject(
          new KafkaBrokerError(`kafka ${name} exited with ${signal ?? code}: ${stderr.trim().slice(-2000)}`),
        );
    });
  });
}
