import path from 'node:path';
import type { Command } from 'commander';
import { defaultLogSpec, openLog } from '../../log/open-log.ts';
import { PrometheusMetrics } from '../../observe/prometheus.ts';
import { startStage1 } from '../../pipeline/stage1.ts';
import { startStatusServer } from '../../server/http-server.ts';
import { createTierflow, resolveConfig } from '../../tierflow.ts';
import { configFrom, globalOptions } from '../context.ts';

/**
 * `tierflow serve`: the long-running side of tierflow. Serves /metrics and /health, and in
 * dual-write mode runs stage 1's relay and cold consumer until SIGINT or SIGTERM, then stops
 * them gracefully (buffered rows are written and committed first).
 */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description(
      'serve /metrics and /health; in dual-write mode also run the outbox relay and the cold consumer',
    )
    .option('--port <n>', 'HTTP port', (v) => Number.parseInt(v, 10), 9464)
    .option('--host <host>', 'HTTP address', '127.0.0.1')
    .option('--mode <mode>', 'hot-only or dual-write (default: $TIERFLOW_MODE or hot-only)')
    .option(
      '--log <spec>',
      'file:<dir>, redis://… or nats://… (default: $TIERFLOW_LOG or file:<data dir>/log)',
    )
    .option('--lake <dir>', 'lake root (default: $TIERFLOW_LAKE or <data dir>/lake)')
    .action(
      async (
        options: { port: number; host: string; mode?: string; log?: string; lake?: string },
        command: Command,
      ) => {
        const config = configFrom(globalOptions(command));
        const dataDir = resolveConfig(config).dataDir;
        const metrics = new PrometheusMetrics();
        const tf = await createTierflow({
          ...config,
          metrics,
          ...(options.mode ? { mode: options.mode as 'hot-only' | 'dual-write' } : {}),
        });
        const log =
          tf.mode === 'dual-write'
            ? await openLog(options.log ?? defaultLogSpec(dataDir), { metrics })
            : undefined;
        const stage1 = log
          ? await startStage1({
              tf,
              log,
              lakeRoot: options.lake ?? process.env.TIERFLOW_LAKE ?? path.join(dataDir, 'lake'),
              metrics,
              onError: (error) => process.stderr.write(`tierflow serve: ${(error as Error).message}\n`),
            })
          : undefined;
        const server = await startStatusServer({
          port: options.port,
          host: options.host,
          metrics,
          health: async () => {
            const status = await stage1?.status();
            return {
              healthy:
                status === undefined || (status.hotBreaker === 'closed' && status.coldBreaker === 'closed'),
              mode: tf.mode,
              ...status,
            };
          },
        });
        console.log(
          `tierflow serve: ${tf.mode} mode, http://${options.host}:${server.port}/metrics and /health; Ctrl-C stops`,
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        await server.close();
        await stage1?.stop();
        await log?.close();
        await tf.close();
        console.log('tierflow serve: stopped');
      },
    );
}
