import type { Command } from 'commander';
import { ConfigError } from '../../core/index.ts';
import { EmbeddedPostgresServer } from '../../hot/embedded-server.ts';
import { resolveConfig } from '../../tierflow.ts';
import { configFrom, globalOptions } from '../context.ts';

function embedded(command: Command): { server: EmbeddedPostgresServer; external?: string } {
  const config = resolveConfig(configFrom(globalOptions(command)));
  return { server: new EmbeddedPostgresServer(config.dataDir), external: config.databaseUrl };
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

export function registerDb(program: Command): void {
  const db = program
    .command('db')
    .description('manage the embedded PostgreSQL (ignored when DATABASE_URL is set)');

  db.command('start')
    .description('start the embedded PostgreSQL and leave it running for later commands')
    .action(async (_options, command: Command) => {
      const { server, external } = embedded(command);
      if (external)
        throw new ConfigError(`DATABASE_URL is set (${redact(external)}): there is nothing to start`);
      const { started } = await server.start();
      const status = await server.status();
      console.log(
        `${started ? 'started' : 'already running'}: PostgreSQL on 127.0.0.1:${status.port} (pid ${status.pid}, data ${server.pgdata})`,
      );
    });

  db.command('stop')
    .description('stop the embedded PostgreSQL')
    .action(async (_options, command: Command) => {
      const { server } = embedded(command);
      console.log((await server.stop()) ? 'stopped' : 'not running');
    });

  db.command('status')
    .description('show whether the embedded PostgreSQL runs')
    .action(async (_options, command: Command) => {
      const { server, external } = embedded(command);
      if (external) console.log(`using DATABASE_URL ${redact(external)}; the embedded server is not used`);
      const status = await server.status();
      if (status.running)
        console.log(`running: pid ${status.pid}, port ${status.port}, data ${server.pgdata}`);
      else
        console.log(
          `stopped (${status.initialised ? 'initialised' : 'not initialised'}, data ${server.pgdata})`,
        );
      if (!status.running && !external) process.exitCode = 3;
    });

  db.command('url')
    .description('print the connection URL of the configured PostgreSQL')
    .action(async (_options, command: Command) => {
      const { server, external } = embedded(command);
      if (external) {
        console.log(external);
        return;
      }
      const status = await server.status();
      if (!status.running || !status.url)
        throw new ConfigError('the embedded PostgreSQL is not running: run `tierflow db start`');
      console.log(status.url);
    });
}
