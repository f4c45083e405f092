import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KafkaBrokerError } from './errors.ts';

/** deploy/kafka: the pom that names the broker's jars, and the broker's log configuration. */
export const DEPLOY_DIR = fileURLToPath(new URL('../../deploy/kafka/', import.meta.url));
const COMPLETE = '.complete';

/** The Kafka version deploy/kafka/pom.xml pins: one place says which broker tierflow runs. */
export async function kafkaVersion(): Promise<string> {
  const pom = await readFile(path.join(DEPLOY_DIR, 'pom.xml'), 'utf8');
  const version = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)?.[1];
  if (!version) throw new KafkaBrokerError(`${DEPLOY_DIR}pom.xml names no <kafka.version>`);
  return version;
}

/**
 * The directory of the broker's jars for the pinned version, fetched from Maven Central the first
 * time (mvn dependency:copy-dependencies) into a temporary directory and renamed into place once
 * complete, so an interrupted fetch never passes for a cache.
 */
export async function ensureJars(cacheDir: string, log: (line: string) => void = () => {}): Promise<string> {
  const version = await kafkaVersion();
  const dir = path.resolve(cacheDir, version);
  if (existsSync(path.join(dir, COMPLETE))) return dir;
  const partial = `${dir}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  log(`fetching Apache Kafka ${version} from Maven Central into ${dir}`);
  const output = await run('mvn', [
    '-B',
    '-q',
    '-f',
    path.join(DEPLOY_DIR, 'pom.xml'),
    'dependency:copy-dependencies',
    `-DoutputDirectory=${partial}`,
  ]).catch((error: unknown) => {
    throw new KafkaBrokerError(
      `could not fetch the Kafka broker's jars with Maven (is mvn installed and Maven Central reachable?): ${(error as Error).message}`,
      { cause: error },
    );
  });
  const jars = (await readdir(partial)).filter((name) => name.endsWith('.jar'));
  if (!jars.some((name) => name.startsWith(`kafka_2.13-${version}`)))
    throw new KafkaBrokerError(`Maven fetched no kafka_2.13-${version}.jar into ${partial}: ${output}`);
  await writeFile(path.join(partial, COMPLETE), `${jars.length} jars\n`);
  await rm(dir, { recursive: true, force: true });
  try {
    await rename(partial, dir);
  } catch (error) {
    // Another start fetched the same version at the same time and won the rename: use its copy.
    if (!existsSync(path.join(dir, COMPLETE))) throw error;
    await rm(partial, { recursive: true, force: true });
  }
  return dir;
}

/** Runs a command to completion; rejects with its output when it exits non-zero. */
export function run(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(output);
      else reject(new Error(`${command} exited with ${signal ?? code}: ${output.trim().slice(-2000)}`));
    });
  });
}
