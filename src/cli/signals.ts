/**
 * SIGINT and SIGTERM for the `tierflow` command. The library installs no signal handler (a
 * library never ends its host); the command is the host, so it does: on the first signal it
 * closes what the command opened (registered with closeOnSignal: the tierflow, and with it the
 * embedded PostgreSQL it started) and exits 130 (SIGINT) or 143 (SIGTERM). A command that listens
 * for the signal itself (`serve`, `log tail`: a signal is how they are meant to end) stops in its
 * own way and sets its own exit code. A second signal exits at once, as does a shutdown that takes
 * longer than the grace period; the 'exit' hook of src/hot/database.ts still stops a server
 * started here.
 */
export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
type HandledSignal = keyof typeof SIGNAL_EXIT_CODES;
const SIGNALS = Object.keys(SIGNAL_EXIT_CODES) as HandledSignal[];

const closers = new Set<() => Promise<void>>();
/** A command that stops itself on a signal gets this many grace periods. */
const DELEGATED_GRACE = 3;

/** Registers what a command opened, to be closed on a signal; returns the unregistration. */
export function closeOnSignal(close: () => Promise<void>): () => void {
  closers.add(close);
  return () => closers.delete(close);
}

export interface SignalHandling {
  /** The signal that ended the command, if one did (for main's exit code). */
  readonly received: HandledSignal | undefined;
  /**
   * Removes the listeners. Not once a signal came: the process is ending then, a second signal
   * must still exit at once, and failures of abandoned work must still only be reported.
   */
  dispose(): void;
}

export function handleSignals(
  options: {
    graceMs?: number;
    exit?: (code: number) => void;
    report?: (line: string) => void;
  } = {},
): SignalHandling {
  const graceMs = options.graceMs ?? 10_000;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const report = options.report ?? ((line: string) => process.stderr.write(`${line}\n`));
  let received: HandledSignal | undefined;
  let delegated = false;
  let delegatedTimer: NodeJS.Timeout | undefined;

  const onSignal = (signal: HandledSignal) => {
    const code = SIGNAL_EXIT_CODES[signal];
    if (received || delegated) {
      report(`tierflow: ${signal} again, exiting without waiting`);
      exit(received ? SIGNAL_EXIT_CODES[received] : code);
      return;
    }
    // Listeners besides this one: the command ends itself on this signal.
    if (process.listenerCount(signal) > 1) {
      delegated = true;
      // Its shutdown writes what it buffered first, so it gets longer; but a hung PostgreSQL or
      // log must not keep a stopped service alive until someone sends SIGKILL.
      delegatedTimer = setTimeout(() => {
        report(`tierflow: still stopping after ${graceMs * DELEGATED_GRACE} ms, exiting`);
        exit(code);
      }, graceMs * DELEGATED_GRACE);
      delegatedTimer.unref();
      return;
    }
    received = signal;
    report(`tierflow: ${signal}, closing (again to exit at once)`);
    // Work still in flight fails once its resources close under it, and a promise nobody awaits
    // any more would crash the process with exit code 1: report each such failure in one line.
    process.on('unhandledRejection', onAbandoned);
    // Likewise an 'error' event nobody listens for any more, from a socket closed under its work.
    process.on('uncaughtException', onAbandoned);
    const timer = setTimeout(() => {
      report(`tierflow: still closing after ${graceMs} ms, exiting`);
      exit(code);
    }, graceMs);
    void Promise.allSettled([...closers].map((close) => close())).then((outcomes) => {
      clearTimeout(timer);
      for (const outcome of outcomes)
        if (outcome.status === 'rejected')
          report(`tierflow: closing failed: ${(outcome.reason as Error)?.message ?? String(outcome.reason)}`);
      exit(code);
    });
  };
  const onAbandoned = (reason: unknown) =>
    report(`tierflow: while closing: ${reason instanceof Error ? reason.message : String(reason)}`);
  for (const signal of SIGNALS) process.on(signal, onSignal);
  return {
    get received() {
      return received;
    },
    dispose() {
      clearTimeout(delegatedTimer);
      for (const signal of SIGNALS) process.off(signal, onSignal);
      process.off('unhandledRejection', onAbandoned);
      process.off('uncaughtException', onAbandoned);
    },
  };
}
