import { TierflowError } from '../core/index.ts';

/** One clear line on stderr; the stack (with causes) only when asked for. Returns the exit code. */
export function reportError(error: unknown, verbose: boolean): number {
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof TierflowError ? ` [${error.code}]` : '';
  process.stderr.write(`tierflow: ${message.split('\n')[0]}${code}\n`);
  if (verbose) {
    let current: unknown = error;
    while (current instanceof Error) {
      process.stderr.write(`${current.stack ?? current.message}\n`);
      current = current.cause;
      if (current) process.stderr.write('caused by: ');
    }
  }
  return 1;
}
