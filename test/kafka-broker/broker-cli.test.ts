import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, link, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kafkaVersion } from '../../src/kafka-broker/jars.ts';
import { freePortPair, ownBrokerAvailable, sharedJars } from '../support/kafka-broker.ts';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * `tierflow kafka start|stop|status` on a data directory and ports of the test's own: the shared
 * broker on 9092 is never touched. The jars are hard links to the shared cache, and `mvn` on PATH
 * is a stand-in that records any call and fails, so a start that tried to fetch would show.
 */
describe('tierflow kafka start, status and stop', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  let dataDir: string;
  let binDir: string;
  const mvnCalled = () => path.join(binDir, 'mvn-called');

  /** Runs the CLI without blocking this process (a TCP server of the test must keep answering). */
  const tierflow = (...args: string[]): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['bin/tierflow.js', '--data-dir', dataDir, ...args], {
        env: { ...process.env, PATH: `${binDir}${path.delimiter}${process.env.PATH ?? ''}` },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout: stdout.trim(), stderr: stderr.trim() }));
    });

  /** The cached jars of this data directory: hard links to the shared cache, no copy, no fetch. */
  const linkJars = async (): Promise<string> => {
    const from = await sharedJars();
    const to = path.join(dataDir, 'kafka', 'jars', await kafkaVersion());
    await mkdir(to, { recursive: true });
    for (const name of await readdir(from)) await link(path.join(from, name), path.join(to, name));
    return to;
  };

  /** The cache's marker: the same file (inode) and time while nothing refetches the jars. */
  const marker = async (jars: string) => {
    const s = await stat(path.join(jars, '.complete'));
    return { ino: s.ino, mtimeMs: s.mtimeMs };
  };

  /** A process that is not this directory's broker, alive until the test ends. */
  const bystander = (...argv: string[]): ChildProcess => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', ...argv], {
      stdio: 'ignore',
    });
    cleanups.push(() => {
      child.kill('SIGKILL');
    });
    return child;
  };

  it('starts once, reports, stops only its own broker, refuses a taken port, and starts again from the cache', async (t) => {
    if (!(await ownBrokerAvailable())) return t.skip();
    dataDir = await mkdtemp(path.join(tmpdir(), 'tierflow-kafka-cli-'));
    binDir = path.join(dataDir, 'bin');
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    await mkdir(binDir);
    await writeFile(path.join(binDir, 'mvn'), `#!/bin/sh\ntouch '${mvnCalled()}'\nexit 1\n`);
    await chmod(path.join(binDir, 'mvn'), 0o755);
    const jars = await linkJars();
    const fetched = await marker(jars);
    const port = await freePortPair();
    const address = `127.0.0.1:${port}`;
    // Whatever happens below, no broker of this test outlives it.
    cleanups.push(async () => {
      await tierflow('kafka', 'stop', '--port', String(port));
    });

    const started = await tierflow('kafka', 'start', '--port', String(port));
    expect(started.code, started.stderr).toBe(0);
    expect(started.stdout).toContain(`started: Kafka on ${address}`);
    expect(started.stdout).toContain(`TIERFLOW_LOG=kafka://${address}`);
    expect(started.stdout).not.toContain('fetching');
    const pid = Number(/\(pid (\d+)/.exec(started.stdout)?.[1]);
    expect(alive(pid)).toBe(true);

    const status = await tierflow('kafka', 'status', '--port', String(port));
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`^running: Kafka \\S+ on ${address} \\(pid ${pid},`));

    const again = await tierflow('kafka', 'start', '--port', String(port));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`already running: Kafka on ${address} (pid ${pid},`);

    const stopped = await tierflow('kafka', 'stop', '--port', String(port));
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toBe('stopped');
    expect(alive(pid)).toBe(false);
    const down = await tierflow('kafka', 'status', '--port', String(port));
    expect(down.code).toBe(3);
    expect(down.stdout).toMatch(/^stopped/);
    expect(await marker(jars)).toEqual(fetched);

    // A second start (storage formatted already) needs no network: the cached jars are used.
    const restarted = await tierflow('kafka', 'start', '--port', String(port));
    expect(restarted.code, restarted.stderr).toBe(0);
    expect(restarted.stdout).toContain(`started: Kafka on ${address}`);
    expect(restarted.stdout).not.toContain('fetching');
    expect(await marker(jars)).toEqual(fetched);
    expect((await readdir(path.dirname(jars))).filter((n) => n.includes('.partial-'))).toEqual([]);
    const secondPid = Number(/\(pid (\d+)/.exec(restarted.stdout)?.[1]);
    expect((await tierflow('kafka', 'stop', '--port', String(port))).stdout).toBe('stopped');
    expect(alive(secondPid)).toBe(false);

    // A port something else listens on: refused, with a clear message, and that listener untouched.
    const taken = await freePortPair();
    const server: Server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(taken, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const refused = await tierflow('kafka', 'start', '--port', String(taken));
    expect(refused.code).not.toBe(0);
    expect(refused.code).not.toBeNull();
    expect(refused.stderr).toContain(`127.0.0.1:${taken} is already in use`);
    expect(server.listening).toBe(true);
    expect((await tierflow('kafka', 'status', '--port', String(taken))).code).toBe(3);

    // The pid file names a live process that is not this directory's broker: stop leaves it alone.
    const pidFile = path.join(dataDir, 'kafka', 'broker.pid');
    const config = path.join(dataDir, 'kafka', 'server.properties');
    const plain = bystander();
    await writeFile(pidFile, JSON.stringify({ pid: plain.pid, address, config }));
    const notOurs = await tierflow('kafka', 'stop', '--port', String(port));
    expect(notOurs.code).toBe(0);
    expect(notOurs.stdout).toBe('not running');
    expect(alive(plain.pid!)).toBe(true);

    // Nor another directory's broker (a copied data directory's pid file names the original's).
    const elsewhere = path.join(tmpdir(), 'tierflow-other-kafka', 'server.properties');
    const otherBroker = bystander('kafka.Kafka', elsewhere);
    await writeFile(pidFile, JSON.stringify({ pid: otherBroker.pid, address, config: elsewhere }));
    expect((await tierflow('kafka', 'status', '--port', String(port))).code).toBe(3);
    const stillNotOurs = await tierflow('kafka', 'stop', '--port', String(port));
    expect(stillNotOurs.stdout).toBe('not running');
    expect(alive(otherBroker.pid!)).toBe(true);

    // Nothing ever ran mvn: no start fetched anything.
    await expect(stat(mvnCalled())).rejects.toMatchObject({ code: 'ENOENT' });
  }, 120_000);
});
