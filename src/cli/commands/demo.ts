import { rm } from 'node:fs/promises';
import path from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { allDatasets } from '../../datasets/index.ts';
import { runFeed } from '../../feed/run-feed.ts';
import { openLakeQuery } from '../../lake/duckdb-lake.ts';
import { reconcile } from '../../lake/reconcile.ts';
import { createFileLog } from '../../log/file/index.ts';
import { openLog } from '../../log/open-log.ts';
import { PrometheusMetrics } from '../../observe/prometheus.ts';
import { startStage1 } from '../../pipeline/stage1.ts';
import { PortInUseError } from '../../server/errors.ts';
import type { StatusServer } from '../../server/http-server.ts';
import { startStatusServer } from '../../server/http-server.ts';
import { stage1View } from '../../server/stage-views.ts';
import { healthSettings, tierflowHealth } from '../../server/tierflow-health.ts';
import type { Tierflow } from '../../tierflow.ts';
import { resolveConfig } from '../../tierflow.ts';
import { resetDemoSchema } from './demo-schema.ts';
import { configFrom, globalOptions, withTierflow } from '../context.ts';
import { formatNumber, renderTable } from '../table.ts';

const int = (v: string) => Number.parseInt(v, 10);

interface DemoOptions {
  symbols: number;
  minutes: number;
  seed: number;
  batchSize: number;
  metricsPort: number;
  log?: string;
}

/**
 * Stage 1 end to end on the embedded defaults: a deterministic trading session written through
 * the dual writer, carried by the outbox relay and the cold consumer into the lake, then
 * reconciled. The demo keeps to its own schema, log and lake, reset on every run.
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'stage 1 end to end: a synthetic trading session into PostgreSQL and the Parquet lake, then reconciliation',
    )
    .option('--symbols <n>', 'number of symbols', int, 20)
    .option('--minutes <n>', 'minutes of trading to simulate', int, 390)
    .option('--seed <n>', 'random seed (same seed, same data)', int, 42)
    .option('--batch-size <n>', 'rows per write batch', int, 5_000)
    .option(
      '--log <spec>',
      "the log that carries the events: kafka://…, nats://… or redis://… (default: the demo's own file log under <data dir>/demo/log)",
    )
    .option(
      '--metrics-port <n>',
      'serve /metrics and /health here during the demo (0: any free port; the default 9464, when taken, gives way to a free one)',
      int,
      9464,
    )
    .action(async (options: DemoOptions, command: Command) => {
      const global = { ...globalOptions(command), schema: globalOptions(command).schema ?? 'tierflow_demo' };
      const dataDir = resolveConfig(configFrom(global)).dataDir;
      const demoDir = path.join(dataDir, 'demo');
      const metrics = new PrometheusMetrics();
      const opened = performance.now();
      // The schema is reset (or refused) before a dual-write tierflow creates its tables there.
      await withTierflow(
        global,
        async (base) => {
          await resetDemoSchema(base.hot.pool, base.schema);
          await rm(demoDir, { recursive: true, force: true });
          const portGiven = command.getOptionValueSource('metricsPort') !== 'default';
          await withTierflow(
            global,
            (tf) => runDemo(tf, options, { dataDir, demoDir, metrics, opened, portGiven }),
            {
              mode: 'dual-write',
              metrics,
            },
          );
        },
        { mode: 'hot-only', migrate: false },
      );
    });
}

async function runDemo(
  tf: Tierflow,
  options: DemoOptions,
  ctx: { dataDir: string; demoDir: string; metrics: PrometheusMetrics; opened: number; portGiven: boolean },
): Promise<void> {
  const { dataDir, demoDir, metrics, opened } = ctx;
  const log = options.log
    ? await openLog(options.log, { metrics })
    : await createFileLog(path.join(demoDir, 'log'), { metrics });
  const errors: string[] = [];
  const stage1 = await startStage1({
    tf,
    log,
    lakeRoot: path.join(demoDir, 'lake'),
    metrics,
    onError: (e) => errors.push((e as Error).message),
  });
  const health = tierflowHealth({
    mode: tf.mode,
    pool: tf.hot.pool,
    log,
    stage: stage1View(stage1),
    settings: healthSettings(),
  });
  const serve = (port: number) => startStatusServer({ port, metrics, health });
  // The default port may be a `tierflow serve`'s: the demo then takes any free one (and
  // prints it); a port asked for with --metrics-port is that port or a PortInUseError.
  let server: StatusServer | undefined;
  try {
    server = await serve(options.metricsPort).catch((error: unknown) => {
      if (error instanceof PortInUseError && !ctx.portGiven) return serve(0);
      throw error;
    });
    const where =
      tf.databaseSource === 'embedded' ? `embedded PostgreSQL (${dataDir})` : 'PostgreSQL at DATABASE_URL';
    console.log(
      `tierflow demo, stage 1 (dual write): ${options.symbols} symbols × ${options.minutes} minutes, seed ${options.seed}\n` +
        `  hot: ${where}, schema "${tf.schema}" · log: ${options.log ?? path.join(demoDir, 'log')} · lake: ${path.join(demoDir, 'lake')}\n` +
        `  metrics: http://127.0.0.1:${server.port}/metrics · health: http://127.0.0.1:${server.port}/health · ready in ${((performance.now() - opened) / 1000).toFixed(1)} s`,
    );
    const bar = new cliProgress.SingleBar(
      {
        format:
          ' {bar} {percentage}% | minute {value}/{total} | hot {hot} | cold {cold} | backlog {backlog} | breakers hot {hotBreaker}, cold {coldBreaker}',
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    let hotRows = 0;
    const payload = async () => {
      const s = await stage1.status();
      return {
        hot: formatNumber(hotRows),
        cold: formatNumber(stage1.consumer.rowsCommitted),
        backlog: formatNumber(s.outboxBacklog + s.coldBacklog),
        hotBreaker: s.hotBreaker,
        coldBreaker: s.coldBreaker,
      };
    };
    bar.start(options.minutes, 0, await payload());
    const started = performance.now();
    let summary;
    let refreshing = Promise.resolve();
    try {
      summary = await runFeed(tf.repositories, options, (p) => {
        hotRows = p.rows;
        refreshing = refreshing.then(async () => bar.update(p.minute, await payload()));
      });
      await refreshing;
      const ticker = setInterval(() => void payload().then((v) => bar.update(options.minutes, v)), 200);
      try {
        await stage1.waitCaughtUp(120_000);
      } finally {
        clearInterval(ticker);
      }
      bar.update(options.minutes, await payload());
    } finally {
      bar.stop();
    }
    const seconds = (performance.now() - started) / 1000;
    await stage1.stop();

    await using lake = await openLakeQuery(path.join(demoDir, 'lake'), allDatasets);
    const report = await reconcile({
      pool: tf.hot.pool,
      schema: tf.schema,
      lake,
      datasets: allDatasets,
    });
    const rows = [];
    for (const [name, written] of Object.entries(summary.rows).sort((a, b) => b[1] - a[1])) {
      const cold = (await lake.query(`SELECT count(*) AS n FROM "${name}"`))[0]!.n as bigint;
      const days = report.days.filter((d) => d.dataset === name);
      rows.push([
        name,
        written,
        await tf.repository(name).count(),
        Number(cold),
        days.every((d) => d.status === 'match')
          ? `clean (${days.length} ${days.length === 1 ? 'day' : 'days'})`
          : 'MISMATCH',
      ]);
    }
    const total = rows.reduce((s, r) => s + (r[1] as number), 0);
    console.log();
    console.log(renderTable(['dataset', 'rows written', 'hot rows', 'lake rows', 'reconciliation'], rows));
    console.log();
    console.log(
      `${formatNumber(total)} rows in ${seconds.toFixed(2)} s (${formatNumber(Math.round(total / seconds))} rows/s), hot and cold`,
    );
    if (errors.length > 0)
      console.log(`${errors.length} transient errors were retried, the first: ${errors[0]}`);
    if (report.clean) {
      console.log('reconciliation: clean — every acknowledged write is in PostgreSQL and in the lake');
    } else {
      console.log('reconciliation: MISMATCH (see above)');
      process.exitCode = 1;
    }
    console.log(
      `explore: npm run tierflow -- lake --lake ${path.join(demoDir, 'lake')} query "SELECT symbol, count(*) AS bars FROM market_data GROUP BY symbol"`,
    );
  } finally {
    await stage1.stop();
    await server?.close();
    await log.close();
  }
}
