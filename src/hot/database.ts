import { EmbeddedPostgresServer } from './embedded-server.ts';

export interface DatabaseTarget {
  url: string;
  /** 'external' when DATABASE_URL or the configuration named a server; nothing is started then. */
  source: 'external' | 'embedded';
  /** Stops the embedded server if this process started it; otherwise does nothing. */
  release(): Promise<void>;
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Resolves which PostgreSQL to use: a URL when given, else the embedded server under `dataDir`,
 * started if needed and reused if another process runs it. A server started here is stopped on
 * release, on SIGINT/SIGTERM, and (synchronously) when the process exits.
 */
export async function openDatabase(options: { url?: string; dataDir: string }): Promise<DatabaseTarget> {
  if (options.url) return { url: options.url, source: 'external', release: async () => {} };
  const server = new EmbeddedPostgresServer(options.dataDir);
  const { url, started } = await server.start();
  if (!started) return { url, source: 'embedded', release: async () => {} };

  let stopped = false;
  const onExit = () => {
    if (!stopped) server.stopSync();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    // Someone else handles this signal (a server shutting down gracefully): let it finish;
    // the 'exit' handler still stops the server when the process ends.
    if (process.listenerCount(signal) > 0) return;
    onExit();
    stopped = true;
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('exit', onExit);
  for (const s of SIGNALS) process.once(s, onSignal);
  return {
    url,
    source: 'embedded',
    async release() {
      if (stopped) return;
      stopped = true;
      process.off('exit', onExit);
      for (const s of SIGNALS) process.off(s, onSignal);
      await server.stop();
    },
  };
}
