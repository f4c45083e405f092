import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { within } from '../wait.ts';

const TIERFLOW_BIN = fileURLToPath(new URL('../../bin/tierflow.js', import.meta.url));
const SERVE_START_TIMEOUT_MS = 60_000;
const SERVE_STOP_TIMEOUT_MS = 60_000;

type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** A `tierflow serve --mode dual-write` child process. */
export interface ServeProcess {
  readonly child: ChildProcess;
  /** The HTTP port, from the first line it prints; rejects if it exits or prints something else first. */
  readonly port: Promise<number>;
  /** Resolves once the process has exited. */
  readonly exited: Promise<Exit>;
  /** What it printed so far, stdout and stderr interleaved by line. */
  output(): string[];
  /** Its stderr lines (stage 1 reports its errors there). */
  errors(): string[];
  running(): boolean;
}

/** The port `tierflow serve` announces on its first line of stdout, or the reason it never will. */
function announcedPort(child: ChildProcess, output: string[], exited: Promise<Exit>): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let first = true;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      output.push(line);
      if (!first) return;
      first = false;
      const match = /^tierflow serve: dual-write mode, http:\/\/[^/\s]+:(\d+)\/metrics/.exec(line);
      if (match) resolve(Number(match[1]));
      else reject(new Error(`tierflow serve: unexpected first line: ${line}`));
    });
    child.once('error', reject);
    void exited.then(({ code, signal }) =>
      reject(
        new Error(
          `tierflow serve exited (code ${code}, signal ${signal}) before it was ready:\n${output.join('\n')}`,
        ),
      ),
    );
  });
}

/** Spawns `tierflow <args>` (a `serve --mode dual-write` command line). */
export function spawnServe(args: string[]): ServeProcess {
  const child = spawn(process.execPath, [TIERFLOW_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const errors: string[] = [];
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const port = announcedPort(child, output, exited);
  createInterface({ input: child.stderr! }).on('line', (line) => {
    output.push(line);
    errors.push(line);
  });
  return {
    child,
    port,
    exited,
    output: () => output,
    errors: () => errors,
    running: () => child.exitCode === null && child.signalCode === null,
  };
}

/** The port of a spawned `tierflow serve` once it listens; throws if it is not ready in time. */
export function servePort(serve: ServeProcess): Promise<number> {
  return within(
    serve.port,
    SERVE_START_TIMEOUT_MS,
    `tierflow serve did not start within ${SERVE_START_TIMEOUT_MS} ms`,
  );
}

/** What the benchmark reads of `tierflow serve`'s /health. */
export interface ServeHealth {
  caughtUp?: boolean;
  outboxBacklog?: number;
  coldBacklog?: number;
}

export async function serveHealth(serve: ServeProcess, port: number): Promise<ServeHealth> {
  if (!serve.running()) throw new Error(`tierflow serve exited early:\n${serve.output().join('\n')}`);
  // 503 (a breaker open) still carries the JSON status.
  const response = await fetch(`http://127.0.0.1:${port}/health`);
  // The stage's status is the body itself, or (/health as a list of checks) the stage check's data.
  const body = (await response.json()) as ServeHealth & { checks?: { stage?: { data?: ServeHealth } } };
  return body.checks?.stage?.data ?? body;
}

/**
 * SIGINT: the child stops its HTTP server, relay and consumer gracefully, then exits. Throws
 * unless it does so in time, with code 0 and its last words.
 */
export async function stopServe(serve: ServeProcess): Promise<void> {
  serve.child.kill('SIGINT');
  const exit = await within(
    serve.exited,
    SERVE_STOP_TIMEOUT_MS,
    `tierflow serve did not stop within ${SERVE_STOP_TIMEOUT_MS} ms of SIGINT`,
  );
  if (exit.code !== 0 || !serve.output().includes('tierflow serve: stopped'))
    throw new Error(
      `tierflow serve did not stop cleanly (code ${exit.code}, signal ${exit.signal}):\n${serve.output().join('\n')}`,
    );
}

/** After a failure: SIGKILL if it still runs, and wait (a while) for it to go. */
export async function killServe(serve: ServeProcess): Promise<void> {
  if (!serve.running()) return;
  serve.child.kill('SIGKILL');
  await within(serve.exited, 10_000, 'tierflow serve did not exit after SIGKILL').catch(() => {});
}
