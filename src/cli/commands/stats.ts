/**
 * `berth stats`: a live table of CPU, memory, network, block I/O and pids per
 * container, computed from the Engine API's stats stream as the docker CLI does.
 */
import { connect, type Client } from '../client';
import { renderFormat } from '../format';
import { binarySize, ExitError, humanSize, out } from '../util';

interface Stats {
  name: string;
  id: string;
  read: string;
  pids_stats: { current?: number };
  blkio_stats: { io_service_bytes_recursive: Array<{ op: string; value: number }> | null };
  cpu_stats: { cpu_usage: { total_usage: number; percpu_usage?: number[] }; system_cpu_usage: number; online_cpus: number };
  precpu_stats: { cpu_usage?: { total_usage: number }; system_cpu_usage?: number };
  memory_stats: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
}

/** One table row, with the docker CLI's field names for --format. */
interface Row {
  Container: string;
  ID: string;
  Name: string;
  CPUPerc: string;
  MemUsage: string;
  MemPerc: string;
  NetIO: string;
  BlockIO: string;
  PIDs: string;
}

function row(given: string, s: Stats, noTrunc: boolean): Row {
  const running = s.read !== '0001-01-01T00:00:00Z';
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - (s.precpu_stats.cpu_usage?.total_usage ?? 0);
  const sysDelta = s.cpu_stats.system_cpu_usage - (s.precpu_stats.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats.online_cpus || s.cpu_stats.cpu_usage.percpu_usage?.length || 1;
  const cpu = s.precpu_stats.system_cpu_usage && sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * cpus * 100 : 0;
  // The CLI leaves the page cache out of "usage" (v1: total_inactive_file, v2: inactive_file).
  const st = s.memory_stats.stats ?? {};
  const inactive = st.total_inactive_file ?? st.inactive_file ?? 0;
  const usage = Math.max(0, (s.memory_stats.usage ?? 0) - (inactive < (s.memory_stats.usage ?? 0) ? inactive : 0));
  const limit = s.memory_stats.limit ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes;
    tx += n.tx_bytes;
  }
  let rd = 0;
  let wr = 0;
  for (const b of s.blkio_stats.io_service_bytes_recursive ?? []) {
    if (b.op === 'read') rd += b.value;
    if (b.op === 'write') wr += b.value;
  }
  const id = noTrunc ? s.id : s.id.slice(0, 12);
  if (!running) return { Container: given, ID: id, Name: s.name.replace(/^\//, ''), CPUPerc: '0.00%', MemUsage: '0B / 0B', MemPerc: '0.00%', NetIO: '0B / 0B', BlockIO: '0B / 0B', PIDs: '0' };
  return {
    Container: given,
    ID: id,
    Name: s.name.replace(/^\//, ''),
    CPUPerc: `${cpu.toFixed(2)}%`,
    MemUsage: `${binarySize(usage)} / ${binarySize(limit)}`,
    MemPerc: `${(limit ? (usage / limit) * 100 : 0).toFixed(2)}%`,
    NetIO: `${humanSize(rx)} / ${humanSize(tx)}`,
    BlockIO: `${humanSize(rd)} / ${humanSize(wr)}`,
    PIDs: String(s.pids_stats.current ?? 0),
  };
}

const DEFAULT_FORMAT = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';
const HEADERS = { Container: 'CONTAINER', ID: 'CONTAINER ID', Name: 'NAME', CPUPerc: 'CPU %', MemUsage: 'MEM USAGE / LIMIT', MemPerc: 'MEM %', NetIO: 'NET I/O', BlockIO: 'BLOCK I/O', PIDs: 'PIDS' };

async function targets(client: Client, names: string[], all: boolean): Promise<string[]> {
  if (names.length) return names;
  const list = await client.json<Array<{ Id: string }>>('GET', '/containers/json', { query: { all: all ? 1 : undefined } });
  return list.map((c) => c.Id);
}

export async function stats(names: string[], f: { all?: boolean; stream?: boolean; format?: string; trunc?: boolean }): Promise<number> {
  const client = await connect();
  const ids = await targets(client, names, !!f.all);
  const noTrunc = f.trunc === false;
  const render = (rows: Row[]) => renderFormat(f.format ?? '', rows, { defaultFormat: DEFAULT_FORMAT, headers: HEADERS });
  if (f.stream === false) {
    const rows: Row[] = [];
    let failed = 0;
    await Promise.all(
      ids.map(async (id, i) => {
        try {
          rows[i] = row(id, await client.json<Stats>('GET', `/containers/${encodeURIComponent(id)}/stats`, { query: { stream: 0 } }), noTrunc);
        } catch (e) {
          failed++;
          process.stderr.write(`Error response from daemon: ${(e as Error).message}\n`);
        }
      }),
    );
    out(render(rows.filter(Boolean)));
    return failed ? 1 : 0;
  }
  // Streaming: one stats stream per container, the whole table redrawn each second.
  const latest = new Map<string, Row>();
  const tty = !!process.stdout.isTTY;
  const streams = ids.map(async (id) => {
    const res = await client.raw('GET', `/containers/${encodeURIComponent(id)}/stats`, { query: { stream: 1 } });
    if ((res.statusCode ?? 500) >= 400) throw new ExitError(`Error response from daemon: No such container: ${id}`, 1);
    let buf = '';
    for await (const chunk of res) {
      buf += (chunk as Buffer).toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) latest.set(id, row(id, JSON.parse(line) as Stats, noTrunc));
      }
    }
  });
  const draw = setInterval(() => {
    const rows = ids.map((id) => latest.get(id)).filter((r): r is Row => !!r);
    if (rows.length === 0) return;
    out(`${tty ? '\x1b[2J\x1b[H' : ''}${render(rows)}`);
  }, 1000);
  try {
    await Promise.all(streams);
  } finally {
    clearInterval(draw);
  }
  return 0;
}
