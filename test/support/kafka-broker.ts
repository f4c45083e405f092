import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { kafkaVersion } from '../../src/kafka-broker/jars.ts';
import { serviceAvailable } from './services.ts';

/**
 * The jars `tierflow kafka start` fetched for the shared broker (.ci/run starts it): tests that
 * start brokers of their own reuse them, so nothing is fetched from Maven Central again.
 * $TIERFLOW_KAFKA_JARS overrides it.
 */
export const SHARED_JAR_CACHE = path.resolve(process.env.TIERFLOW_KAFKA_JARS ?? '.tierflow/kafka/jars');

/** The directory of the pinned version's jars in SHARED_JAR_CACHE (it has a .complete marker once fetched). */
export async function sharedJars(): Promise<string> {
  return path.join(SHARED_JAR_CACHE, await kafkaVersion());
}

/**
 * Whether a broker of the test's own can start: Java runs and the jars are cached. Skips with a
 * message (or fails under TIERFLOW_REQUIRE_SERVICES=1) when not.
 */
export function ownBrokerAvailable(): Promise<boolean> {
  return serviceAvailable('Kafka broker (own)', async () => {
    const jars = await sharedJars();
    if (!existsSync(path.join(jars, '.complete')))
      throw new Error(
        `no Kafka jars cached in ${jars} (run \`npx tierflow kafka start\` once to fetch them)`,
      );
    await new Promise<void>((resolve, reject) => {
      const java = spawn('java', ['-version'], { stdio: 'ignore' });
      java.once('error', (error) => reject(new Error(`java does not run: ${error.message}`)));
      java.once('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`java -version exited ${code}`)),
      );
    });
  });
}

function listenOn(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : undefined));
    });
  });
}

/**
 * A client port whose next port (the controller's) is free too, away from 9092/9093 where the
 * shared broker runs. Free when asked: another process may take it before the broker does, which
 * a test then sees as a failed start, not as a wrong result.
 */
export async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await listenOn(0);
    if (port === undefined || port >= 65534 || port === 9092 || port === 9091) continue;
    if ((await listenOn(port + 1)) === port + 1) return port;
  }
  throw new Error('found no two free consecutive ports');
}
