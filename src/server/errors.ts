import { TierflowError } from '../core/index.ts';

/** The status server's address is taken: another process (often another tierflow serve) listens there. */
export class PortInUseError extends TierflowError {
  readonly host: string;
  readonly port: number;
  constructor(host: string, port: number, cause: unknown) {
    super(
      'PORT_IN_USE',
      `cannot serve /metrics and /health on ${host}:${port}: the address is in use (another process listens there: stop it or choose another port)`,
      { cause },
    );
    this.host = host;
    this.port = port;
  }
}

/** A /health probe did not answer in time; the probe keeps running and the next request joins it. */
export class HealthCheckTimeoutError extends TierflowError {
  readonly probe: string;
  constructor(probe: string, timeoutMs: number) {
    super('HEALTH_CHECK_TIMEOUT', `no answer within ${timeoutMs} ms`, { retriable: true });
    this.probe = probe;
  }
}
