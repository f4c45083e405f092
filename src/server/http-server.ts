import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PrometheusMetrics } from '../observe/prometheus.ts';
import { PortInUseError } from './errors.ts';

export interface StatusServer {
  port: number;
  close(): Promise<void>;
}

/**
 * `/metrics` in Prometheus text format and `/health` as JSON (503 when unhealthy). Port 0 picks
 * a free port. A port in use fails with PortInUseError: a server that moved elsewhere would be
 * scraped by no one, and a second instance on one machine must be told, not hidden.
 */
export async function startStatusServer(options: {
  port: number;
  host?: string;
  metrics: PrometheusMetrics;
  health: () => Promise<{ healthy: boolean }>;
}): Promise<StatusServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer((request, response) => {
    const respond = async () => {
      if (request.url === '/metrics') {
        response.writeHead(200, { 'content-type': options.metrics.contentType });
        response.end(await options.metrics.text());
      } else if (request.url === '/health') {
        const health = await options.health();
        response.writeHead(health.healthy ? 200 : 503, { 'content-type': 'application/json' });
        response.end(JSON.stringify(health, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
      } else {
        response.writeHead(404, { 'content-type': 'text/plain' });
        response.end('not found: try /metrics or /health\n');
      }
    };
    respond().catch((error: unknown) => {
      response.writeHead(500, { 'content-type': 'text/plain' });
      response.end(`error: ${(error as Error).message}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new PortInUseError(host, options.port, error) : error),
    );
    server.listen(options.port, host, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}
