import { EmbeddedPostgresServer } from './embedded-server.ts';

export interface DatabaseTarget {
  url: string;
  /** 'external' when DATABASE_URL or the configuration named a server; nothing is started then. */
  source: 'external' | 'embedded';
  /** Stops the embedded server if this process started it; otherwise does nothing. Safe twice. */
  release(): Promise<void>;
}

/**
 * Resolves which PostgreSQL to use: a URL when given, else the embedded server under `dataDir`,
 * started if needed and reused if another process runs it. A server started here is stopped on
 * release (the tierflow's close), or synchronously when the process exits without releasing it.
 *
 * Signals are the host's: a listener for SIGINT or SIGTERM, even one that does nothing, takes the
 * default "terminate" away from the process, and a library that exits from one cuts short the
 * host's own shutdown. A host that wants the server stopped on Ctrl-C handles the signal and
 * closes its tierflow (the CLI does: src/cli/signals.ts); one killed by a signal it does not handle
 * leaves the server running, and the next start reuses it.
 */
export async function openDatabase(options: { url?: string; dataDir: string }): Promise<DatabaseTarget> {
  if (options.url) return { url: options.url, source: 'external', release: async () => {} };
  const server = new EmbeddedPostgresServer(options.dataDir);
  const { url, started } = await server.start();
  if (!started) return { url, source: 'embedded', release: async () => {} };

  let stopped = false;
  // 'exit' handlers cannot wait for promises: pg_ctl stop runs synchronously there. It stays
  // installed until a stop succeeded, so a failed release is tried once more at exit.
  const onExit = () => {
    if (!stopped) server.stopSync();
  };
  process.once('exit', onExit);
  let releasing: Promise<void> | undefined;
  return {
    url,
    source: 'embedded',
    release() {
      releasing ??= (async () => {
        await server.stop();
        stopped = true;
        process.off('exit', onExit);
      })();
      return releasing;
    },
  };
}
