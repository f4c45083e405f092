import { spawn } from 'node:child_process';

/**
 * Runs a TypeScript script in a child process, hands each line it prints to `onLine`, and
 * SIGKILLs it `killAfterMs` after it printed "ready" (at once, if it exited before). Returns
 * what it wrote to stderr, which a crash test expects to be empty.
 */
export async function runThenKill(
  script: string,
  args: readonly string[],
  killAfterMs: number,
  onLine: (line: string) => void,
): Promise<{ stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let buffered = '';
  let ready!: () => void;
  const started = new Promise<void>((resolve) => (ready = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      if (line === 'ready') ready();
      else onLine(line);
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await Promise.race([started, exited]);
  if (stderr === '') await new Promise((resolve) => setTimeout(resolve, killAfterMs));
  child.kill('SIGKILL');
  await exited;
  return { stderr };
}
