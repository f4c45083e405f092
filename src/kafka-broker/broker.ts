import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BROKER_JVM_FLAGS, type BrokerSettings, brokerProperties } from './broker-config.ts';
import { KafkaBrokerError } from './errors.ts';
import { DEPLOY_DIR, ensureJars, kafkaVersion, run } from './jars.ts';
import { brokerAnswers } from './probe.ts';

export interface BrokerStatus {
  running: boolean;
  pid?: number;
  /** host:port clients connect to. */
  address: string;
  dir: string;
  logFile: string;
  version?: string;
}

interface PidRecord {
  pid: number;
  address: string;
  config: string;
}

const START_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 30_000;

/**
 * One Apache Kafka broker (combined broker and KRaft controller) that tierflow fetched and started
 * itself, under `settings.dir`: server.properties, data/, broker.log and broker.pid. Started
 * detached, so `tierflow kafka start` leaves it running for later commands; `stop` stops only the
 * process its pid file names, and only if that process is still this broker.
 */
export class KafkaBroker {
  readonly settings: BrokerSettings;
  readonly logFile: string;
  private readonly pidFile: string;
  private readonly configFile: string;
  private readonly dataDir: string;

  constructor(
    settings: Partial<BrokerSettings> & { dir: string },
    private readonly jarCache: string = path.join(settings.dir, 'jars'),
  ) {
    this.settings = {
      host: '127.0.0.1',
      port: 9092,
      controllerPort: (settings.port ?? 9092) + 1,
      flushEveryAppend: true,
      ...settings,
      dir: path.resolve(settings.dir),
    };
    this.logFile = path.join(this.settings.dir, 'broker.log');
    this.pidFile = path.join(this.settings.dir, 'broker.pid');
    this.configFile = path.join(this.settings.dir, 'server.properties');
    this.dataDir = path.join(this.settings.dir, 'data');
  }

  get address(): string {
    return `${this.settings.host}:${this.settings.port}`;
  }

  /** The `kafka://` log spec of this broker. */
  get url(): string {
    return `kafka://${this.address}`;
  }

  async status(): Promise<BrokerStatus> {
    const record = await this.ownProcess();
    return {
      running: record !== undefined,
      pid: record?.pid,
      address: this.address,
      dir: this.settings.dir,
      logFile: this.logFile,
      version: await kafkaVersion().catch(() => undefined),
    };
  }

  /**
   * Fetches the jars if needed, formats KRaft storage on first start, starts the broker and waits
   * until it answers a metadata request. Refuses a port something else already listens on.
   */
  async start(log: (line: string) => void = () => {}): Promise<{ started: boolean; pid: number }> {
    const running = await this.ownProcess();
    if (running) return { started: false, pid: running.pid };
    if (await portOpen(this.settings.host, this.settings.port))
      throw new KafkaBrokerError(
        `${this.address} is already in use by a process this data directory did not start (a broker of your own? point TIERFLOW_LOG at kafka://${this.address} instead)`,
      );
    const jars = await ensureJars(this.jarCache, log);
    await mkdir(this.settings.dir, { recursive: true });
    await writeFile(this.configFile, brokerProperties(this.settings, this.dataDir));
    if (!existsSync(path.join(this.dataDir, 'meta.properties'))) await this.format(jars);

    const out = openSync(this.logFile, 'a');
    let child;
    try {
      child = spawn(
        'java',
        [
          ...BROKER_JVM_FLAGS,
          `-Dlog4j2.configurationFile=${path.join(DEPLOY_DIR, 'log4j2.yaml')}`,
          '-cp',
          `${jars}/*`,
          'kafka.Kafka',
          this.configFile,
        ],
        { detached: true, stdio: ['ignore', out, out] },
      );
    } finally {
      closeSync(out);
    }
    const pid = child.pid;
    if (pid === undefined) throw new KafkaBrokerError('java did not start (is Java 17 installed?)');
    let exited: string | undefined;
    child.once('exit', (code, signal) => (exited = `exited with ${signal ?? code}`));
    child.once('error', (error) => (exited = error.message));
    child.unref();
    await writeFile(
      this.pidFile,
      JSON.stringify({ pid, address: this.address, config: this.configFile } satisfies PidRecord),
    );

    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await brokerAnswers(this.address))) {
      if (exited !== undefined) {
        await rm(this.pidFile, { force: true });
        throw new KafkaBrokerError(
          `the broker ${exited}; its log ${this.logFile} ends:\n${await this.tail()}`,
        );
      }
      if (Date.now() > deadline) {
        await this.stop();
        throw new KafkaBrokerError(
          `the broker did not answer on ${this.address} within ${START_TIMEOUT_MS / 1000} s; its log ${this.logFile} ends:\n${await this.tail()}`,
        );
      }
      await sleep(250);
    }
    return { started: true, pid };
  }

  /** Stops the broker this directory started (SIGTERM, then SIGKILL after 30 s). False if none ran. */
  async stop(): Promise<boolean> {
    const record = await this.ownProcess();
    if (!record) {
      await rm(this.pidFile, { force: true });
      return false;
    }
    signal(record.pid, 'SIGTERM');
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (alive(record.pid)) {
      if (Date.now() > deadline) signal(record.pid, 'SIGKILL');
      await sleep(100);
    }
    await rm(this.pidFile, { force: true });
    return true;
  }

  /** Kills the broker at once (SIGKILL), as a crash would: for fault tests. */
  async kill(): Promise<void> {
    const record = await this.ownProcess();
    if (!record) throw new KafkaBrokerError(`no broker of ${this.settings.dir} is running`);
    signal(record.pid, 'SIGKILL');
    while (alive(record.pid)) await sleep(20);
    await rm(this.pidFile, { force: true });
  }

  private async format(jars: string): Promise<void> {
    const clusterId = randomBytes(16).toString('base64url');
    await run('java', [
      '-cp',
      `${jars}/*`,
      'kafka.tools.StorageTool',
      'format',
      '-t',
      clusterId,
      '-c',
      this.configFile,
    ]).catch((error: unknown) => {
      throw new KafkaBrokerError(
        `could not format the broker's storage in ${this.dataDir}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    });
  }

  /**
   * The pid file's process, if it is alive and still this broker (not a recycled pid). The pid
   * file must name this directory's configuration: one copied from another data directory names
   * the original's broker, which is not this directory's to stop.
   */
  private async ownProcess(): Promise<PidRecord | undefined> {
    let record: PidRecord;
    try {
      record = JSON.parse(await readFile(this.pidFile, 'utf8')) as PidRecord;
    } catch {
      return undefined;
    }
    if (record.config !== this.configFile || !alive(record.pid)) return undefined;
    try {
      const cmdline = (await readFile(`/proc/${record.pid}/cmdline`, 'utf8')).split('\0');
      if (!cmdline.includes('kafka.Kafka') || !cmdline.includes(record.config)) return undefined;
    } catch {
      return undefined;
    }
    return record;
  }

  private async tail(): Promise<string> {
    const text = await readFile(this.logFile, 'utf8').catch(() => '');
    return text.split('\n').slice(-20).join('\n');
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
