import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';

/** CPU time used so far, taken at one moment; two of them give the use in between (`cores`). */
export interface CpuSnapshot {
  at: number;
  /** CPU-seconds of this process (user + system). */
  node: number;
  /** CPU-seconds of the PostgreSQL server (postmaster and children), NaN when not on this machine. */
  postgres: number;
  /** CPU-seconds the whole machine was busy. */
  machine: number;
  /** The event loop's active and idle time so far. */
  elu: ReturnType<typeof performance.eventLoopUtilization>;
}

/** USER_HZ: the unit of /proc/<pid>/stat times, 100 on every mainstream Linux. */
const USER_HZ = 100;

function procStat(pid: string): { comm: string; ppid: string; ticks: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    // After the command name: state, ppid, …; utime and stime are fields 14 and 15 of the line.
    return {
      comm: stat.slice(stat.indexOf('(') + 1, close),
      ppid: fields[1]!,
      ticks: Number(fields[11]) + Number(fields[12]),
    };
  } catch {
    return undefined; // The process ended while we looked.
  }
}

/** Whether the process `pid` was started with `-p <port>` or `--port=<port>`. */
function listensOn(pid: string, port: string): boolean {
  let args: string[];
  try {
    args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return false;
  }
  const i = args.indexOf('-p');
  return (i >= 0 && args[i + 1] === port) || args.includes(`--port=${port}`);
}

/** The CPU time of the local PostgreSQL listening on `port`: its postmaster and its children. */
function postgresCpuSeconds(port: string | undefined): number {
  if (process.platform !== 'linux' || !port) return Number.NaN;
  const stats = new Map<string, { comm: string; ppid: string; ticks: number }>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = procStat(pid);
    if (stat?.comm === 'postgres') stats.set(pid, stat);
  }
  for (const [pid, stat] of stats) {
    if (stat.ppid !== '1' && stats.has(stat.ppid)) continue;
    if (!listensOn(pid, port)) continue;
    let ticks = stat.ticks;
    for (const child of stats.values()) if (child.ppid === pid) ticks += child.ticks;
    return ticks / USER_HZ;
  }
  return Number.NaN;
}

/** CPU-seconds one process has used so far, NaN when it cannot be read (not Linux, or it ended). */
export function processCpuSeconds(pid: number | undefined): number {
  if (process.platform !== 'linux' || pid === undefined) return Number.NaN;
  const stat = procStat(String(pid));
  return stat ? stat.ticks / USER_HZ : Number.NaN;
}

/** This process, the local PostgreSQL listening on `postgresPort` (if any) and the whole machine, now. */
export function cpuSnapshot(postgresPort: string | undefined): CpuSnapshot {
  const usage = process.cpuUsage();
  const machine = os.cpus().reduce((s, c) => s + c.times.user + c.times.nice + c.times.sys + c.times.irq, 0);
  return {
    at: performance.now(),
    node: (usage.user + usage.system) / 1e6,
    postgres: postgresCpuSeconds(postgresPort),
    machine: machine / 1000,
    elu: performance.eventLoopUtilization(),
  };
}

/** CPU use between two snapshots, in cores (CPU-seconds per second), and the event loop's utilisation. */
export function cores(a: CpuSnapshot, b: CpuSnapshot): string {
  const wall = (b.at - a.at) / 1000;
  const f = (x: number) => (Number.isNaN(x) ? 'n/a' : (x / wall).toFixed(2));
  const node = b.node - a.node;
  const pg = b.postgres - a.postgres;
  const machine = b.machine - a.machine;
  const elu = performance.eventLoopUtilization(b.elu, a.elu).utilization;
  return (
    `node ${f(node)} (event loop busy ${(elu * 100).toFixed(0)}%), postgres ${f(pg)}, ` +
    `other processes ${f(machine - node - (Number.isNaN(pg) ? 0 : pg))}, whole machine ${f(machine)} of ${os.cpus().length} cores`
  );
}

/** One process's CPU use in cores between two readings of processCpuSeconds, taken with snapshots a and b. */
export function processCores(from: number, to: number, a: CpuSnapshot, b: CpuSnapshot): string {
  return Number.isNaN(to - from) ? 'n/a' : ((to - from) / ((b.at - a.at) / 1000)).toFixed(2);
}
