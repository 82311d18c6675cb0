/**
 * Real containers on runc + conmon + overlayfs, asserted from inside: PID 1,
 * hostname, namespaces, cgroup limits, isolation of writes, exit codes,
 * stdio, exec, logs, commit and diff.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BERTH_BIN, TestEngine, eventually, isRoot } from '../helpers/engine';
import { spawn, spawnSync } from 'node:child_process';

describe('containers', { skip: isRoot() ? false : 'needs root: mounts overlays and runs runc' }, () => {
  // Ended execs are forgotten after 2 s here (default 5 minutes): the exec cleanup test waits it out.
  const e = new TestEngine({ BERTH_EXEC_RETENTION_MS: '2000' });
  before(async () => {
    await e.start();
    await e.busybox();
  });
  after(() => e.cleanup());

  test('PID 1 is the command, hostname is the short ID', async () => {
    const r = await e.berth(['run', '--name', 'c-pid1', 'busybox', 'sh', '-c', 'echo $$; hostname; cat /proc/1/cmdline | tr "\\0" " "']);
    assert.equal(r.code, 0, r.stderr);
    const [pid, host, cmdline] = r.stdout.trim().split('\n');
    assert.equal(pid, '1');
    const id = (await e.berth(['inspect', '-f', '{{.Id}}', 'c-pid1'])).stdout.trim();
    assert.equal(host, id.slice(0, 12));
    assert.match(cmdline, /^sh -c /);
  });

  test('namespaces differ from the host', async () => {
    const r = await e.berth(['run', '--rm', 'busybox', 'sh', '-c', 'for n in pid mnt net uts ipc; do readlink /proc/1/ns/$n; done']);
    assert.equal(r.code, 0, r.stderr);
    const inside = r.stdout.trim().split('\n');
    const host = ['pid', 'mnt', 'net', 'uts', 'ipc'].map((n) => readlinkSync(`/proc/self/ns/${n}`));
    assert.equal(inside.length, 5);
    inside.forEach((ns, i) => assert.notEqual(ns, host[i], `namespace ${ns} shared with host`));
  });

  test('--network host shares the host network namespace', async () => {
    const r = await e.berth(['run', '--rm', '--network', 'host', 'busybox', 'readlink', '/proc/1/ns/net']);
    assert.equal(r.stdout.trim(), readlinkSync('/proc/self/ns/net'));
  });

  test('memory and pids limits are set and enforced', async () => {
    const set = await e.berth(['run', '--rm', '-m', '32m', '--pids-limit', '16', 'busybox', 'sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max']);
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual(set.stdout.trim().split('\n'), [String(32 * 1024 * 1024), '16']);
    // Forking past the pids limit fails inside the container.
    const pids = await e.berth(['run', '--rm', '--pids-limit', '8', 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 5 & done 2>&1; wait']);
    assert.match(pids.stdout + pids.stderr, /can't fork|Resource temporarily unavailable|fork/i);
    // Allocating past the memory limit gets the container OOM-killed (137).
    const oom = await e.berth(['run', '--name', 'c-oom', '-m', '16m', '--memory-swap', '16m', 'busybox', 'sh', '-c', 'x=a; while true; do x=$x$x; done']);
    assert.equal(oom.code, 137);
    const killed = await e.berth(['inspect', '-f', '{{.State.OOMKilled}}', 'c-oom']);
    assert.equal(killed.stdout.trim(), 'true');
  });

  test('ctrl-p ctrl-q on a terminal detaches run -it and attach; the container runs on (real pty)', async () => {
    // `script` gives the CLI a real terminal. Each step types its keys once the output so far matches its cue.
    const session = (cmd: string, steps: Array<[RegExp, string]>) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const p = spawn('script', ['-qfec', cmd, '/dev/null'], { env: { ...e.env, TERM: 'dumb' }, stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        let step = 0;
        const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
        const next = () => {
          while (step < steps.length && steps[step]![0].test(out)) p.stdin.write(steps[step++]![1]);
        };
        p.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          next();
        });
        // attach shows nothing until a key is typed: a first step with an empty cue goes at once.
        setTimeout(next, 1500);
        p.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, out });
        });
      });
    const bin = `${process.execPath} ${BERTH_BIN}`;
    const first = await session(`${bin} run -it --name detacher busybox sh`, [[/# /, 'echo typed-$((6*7))\r'], [/typed-42/, '\x10\x11']]);
    assert.equal(first.code, 0, first.out);
    assert.match(first.out, /typed-42/);
    assert.match(first.out, /read escape sequence/);
    assert.equal((await e.berth(['inspect', '-f', '{{.State.Running}}', 'detacher'])).stdout, 'true\n', 'detaching stopped the container');
    const again = await session(`${bin} attach --detach-keys ctrl-a,x detacher`, [[/(?:)/, 'echo back-$((1+1))\r'], [/back-2/, '\x01x']]);
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /back-2/);
    assert.equal((await e.berth(['inspect', '-f', '{{.State.Running}}', 'detacher'])).stdout, 'true\n');
    await e.berth(['rm', '-f', 'detacher']);
  });

  test('--oom-score-adj, --oom-kill-disable and --cidfile', async () => {
    const cid = join(e.dir, 'cid');
    const r = await e.berth(['run', '--rm', '--cidfile', cid, '--oom-score-adj', '500', '-m', '16m', '--oom-kill-disable', 'busybox', 'sh', '-c', 'cat /proc/self/oom_score_adj; grep oom_kill_disable /sys/fs/cgroup/memory/memory.oom_control']);
    assert.equal(r.stdout, '500\noom_kill_disable 1\n', r.stderr);
    assert.match(readFileSync(cid, 'utf8'), /^[0-9a-f]{64}$/);
    const again = await e.berth(['run', '--rm', '--cidfile', cid, 'busybox', 'true']);
    assert.equal(again.code, 125);
    assert.match(again.stderr, /Container ID file found/);
    const bad = await e.berth(['create', '--oom-score-adj', '2000', 'busybox', 'true']);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /must be in the range -1000 to 1000/);
    // Positive: lowering it needs CAP_SYS_RESOURCE, which this sandbox's root lacks.
    const viaDocker = await e.docker(['run', '--rm', '--oom-score-adj', '300', 'busybox', 'cat', '/proc/self/oom_score_adj']);
    assert.equal(viaDocker.stdout, '300\n', viaDocker.stderr);
  });

  test('cpu limits, privileged and capabilities', async () => {
    const cpu = await e.berth(['run', '--rm', '--cpus', '0.5', '-c', '512', 'busybox', 'sh', '-c', 'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpu/cpu.shares']);
    assert.deepEqual(cpu.stdout.trim().split('\n'), ['50000', '100000', '512'], cpu.stderr);
    const plain = await e.berth(['run', '--rm', 'busybox', 'sh', '-c', 'grep CapEff /proc/self/status; mkdir -p /m; mount -t tmpfs t /m 2>&1; echo rc=$?']);
    assert.match(plain.stdout, /CapEff:\s+00000000a80425fb/);
    assert.match(plain.stdout, /rc=[1-9]/);
    const priv = await e.berth(['run', '--rm', '--privileged', 'busybox', 'sh', '-c', 'mkdir -p /m && mount -t tmpfs t /m && echo mounted']);
    assert.equal(priv.stdout, 'mounted\n', priv.stderr);
    const drop = await e.berth(['run', '--rm', '--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN', 'busybox', 'grep', 'CapEff', '/proc/self/status']);
    assert.match(drop.stdout, /CapEff:\s+0000000000001000/);
    const bad = await e.berth(['run', '--rm', '--cap-add', 'NOT_A_CAP', 'busybox', 'true']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /NOT_A_CAP/);
  });

  test('logs --since and --until select by time', async () => {
    await e.berth(['run', '--name', 'c-since', 'busybox', 'sh', '-c', 'echo early; sleep 1.2; echo late']);
    const all = await e.berth(['logs', '-t', 'c-since']);
    const lateTs = all.stdout.trim().split('\n')[1].split(' ')[0];
    const since = await e.berth(['logs', '--since', lateTs, 'c-since']);
    assert.equal(since.stdout, 'late\n');
    const until = await e.berth(['logs', '--until', lateTs, 'c-since']);
    assert.equal(until.stdout, 'early\n');
    const bad = await e.berth(['logs', '--since', 'yesterday-ish', 'c-since']);
    assert.notEqual(bad.code, 0);
  });

  test('a file written in one container is absent in the next', async () => {
    const a = await e.berth(['run', '--rm', 'busybox', 'sh', '-c', 'echo secret > /tmp/f && cat /tmp/f']);
    assert.equal(a.stdout.trim(), 'secret');
    const b = await e.berth(['run', '--rm', 'busybox', 'sh', '-c', 'cat /tmp/f 2>&1; echo rc=$?']);
    assert.match(b.stdout, /No such file/);
  });

  test('exit codes: 0, 7, 126, 127, 137 after kill', async () => {
    assert.equal((await e.berth(['run', '--rm', 'busybox', 'true'])).code, 0);
    assert.equal((await e.berth(['run', '--rm', 'busybox', 'sh', '-c', 'exit 7'])).code, 7);
    const notExec = await e.berth(['run', '--rm', 'busybox', '/etc/passwd']);
    assert.equal(notExec.code, 126, notExec.stderr);
    const missing = await e.berth(['run', '--rm', 'busybox', 'no-such-command']);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /executable file not found/);
    await e.berth(['run', '-d', '--name', 'c-kill', 'busybox', 'sleep', '600']);
    assert.equal((await e.berth(['kill', 'c-kill'])).code, 0);
    const w = await e.berth(['wait', 'c-kill']);
    assert.equal(w.stdout.trim(), '137');
  });

  test('stdout and stderr stay separate; stdin reaches the container and closes on EOF', async () => {
    const r = await e.berth(['run', '--rm', 'busybox', 'sh', '-c', 'echo to-out; echo to-err >&2']);
    assert.equal(r.stdout, 'to-out\n');
    assert.equal(r.stderr, 'to-err\n');
    const cat = await e.berth(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'cat; echo done'], { input: 'line1\nline2\n' });
    assert.equal(cat.stdout, 'line1\nline2\ndone\n');
  });

  test('env, workdir, user, entrypoint, read-only rootfs', async () => {
    const r = await e.berth(['run', '--rm', '-e', 'FOO=bar', '-w', '/tmp/wd', '-u', 'nobody', 'busybox', 'sh', '-c', 'echo $FOO; pwd; id -u']);
    assert.deepEqual(r.stdout.trim().split('\n'), ['bar', '/tmp/wd', '65534']);
    const ep = await e.berth(['run', '--rm', '--entrypoint', 'echo', 'busybox', 'via', 'entrypoint']);
    assert.equal(ep.stdout, 'via entrypoint\n');
    const ro = await e.berth(['run', '--rm', '--read-only', 'busybox', 'sh', '-c', 'touch /x 2>&1; echo rc=$?']);
    assert.match(ro.stdout, /Read-only file system/);
  });

  test('exec: output, exit code, stdin, env, user', async () => {
    await e.berth(['run', '-d', '--name', 'c-exec', 'busybox', 'sleep', '600']);
    const r = await e.berth(['exec', 'c-exec', 'sh', '-c', 'echo $$ is not 1; exit 5']);
    assert.equal(r.code, 5);
    assert.match(r.stdout, /is not 1/);
    const i = await e.berth(['exec', '-i', 'c-exec', 'cat'], { input: 'piped\n' });
    assert.equal(i.stdout, 'piped\n');
    const env = await e.berth(['exec', '-e', 'X=1', '-u', 'nobody', '-w', '/tmp', 'c-exec', 'sh', '-c', 'echo $X $(id -u) $(pwd)']);
    assert.equal(env.stdout.trim(), '1 65534 /tmp');
    const missing = await e.berth(['exec', 'c-exec', 'nope']);
    assert.equal(missing.code, 127);
  });

  test('logs: all, --tail, -t, -f until exit, stream separation', async () => {
    await e.berth(['run', '-d', '--name', 'c-logs', 'busybox', 'sh', '-c', 'for i in 1 2 3; do echo out$i; echo err$i >&2; done; sleep 1; echo last']);
    const f = await e.berth(['logs', '-f', 'c-logs']);
    assert.equal(f.stdout, 'out1\nout2\nout3\nlast\n');
    assert.equal(f.stderr, 'err1\nerr2\nerr3\n');
    const tail = await e.berth(['logs', '--tail', '1', 'c-logs']);
    assert.equal(tail.stdout, 'last\n');
    const ts = await e.berth(['logs', '-t', '--tail', '1', 'c-logs']);
    assert.match(ts.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z last\n$/);
  });

  test('logs are rotated and bounded (max-size, max-file) without losing the retained lines', async () => {
    const r = await e.berth(['run', '--name', 'c-rotate', '--log-opt', 'max-size=8k', '--log-opt', 'max-file=3', 'busybox', 'sh', '-c', 'i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo "line $i padding-padding-padding"; [ $((i % 20)) -eq 0 ] && usleep 50000; done']);
    assert.equal(r.code, 0, r.stderr);
    const id = (await e.berth(['inspect', '-f', '{{.Id}}', 'c-rotate'])).stdout.trim();
    const { readdirSync, statSync } = await import('node:fs');
    const dir = `${e.root}/containers/${id}`;
    const files = readdirSync(dir).filter((f) => f.startsWith('ctr.log'));
    assert.ok(files.length >= 2 && files.length <= 3, `log files: ${files.join(',')}`);
    const total = files.reduce((n, f) => n + statSync(`${dir}/${f}`).size, 0);
    assert.ok(total <= 3 * 8192 + 4096, `logs take ${total} bytes`);
    const lines = (await e.berth(['logs', 'c-rotate'])).stdout.trim().split('\n');
    assert.equal(lines[lines.length - 1], 'line 600 padding-padding-padding');
    const nums = lines.map((l) => Number(l.split(' ')[1]));
    nums.forEach((n, i) => i > 0 && assert.equal(n, nums[i - 1] + 1, 'a retained line was lost'));
  });

  test('berth cp: host file in, file and directory out, tar on stdout', async () => {
    const work = mkdtempSync(join(tmpdir(), 'berth-cp-'));
    try {
      writeFileSync(join(work, 'in.txt'), 'from the host\n');
      assert.equal((await e.berth(['create', '--name', 'c-cp', 'busybox', 'true'])).code, 0);
      const cpIn = await e.berth(['cp', join(work, 'in.txt'), 'c-cp:/tmp/in.txt']);
      assert.equal(cpIn.code, 0, cpIn.stderr);
      const cpOut = await e.berth(['cp', 'c-cp:/tmp/in.txt', join(work, 'out.txt')]);
      assert.equal(cpOut.code, 0, cpOut.stderr);
      assert.equal(readFileSync(join(work, 'out.txt'), 'utf8'), 'from the host\n');
      const dirOut = await e.berth(['cp', 'c-cp:/etc', join(work, 'etc')]);
      assert.equal(dirOut.code, 0, dirOut.stderr);
      assert.match(readFileSync(join(work, 'etc', 'passwd'), 'utf8'), /^root:/m);
      const tar = await e.berth(['cp', 'c-cp:/tmp/in.txt', '-']);
      assert.equal(tar.code, 0, tar.stderr);
      assert.match(tar.stdout, /^in\.txt/, 'a tar stream whose first entry is the file');
    } finally {
      rmSync(work, { recursive: true, force: true });
      await e.berth(['rm', '-f', 'c-cp']);
    }
  });

  test('healthchecks: starting, healthy, unhealthy, timeout, --no-healthcheck, ps filter and events', async () => {
    const since = Math.floor(Date.now() / 1000);
    const r = await e.berth(['run', '-d', '--name', 'c-health', '--health-cmd', 'cat /tmp/ok', '--health-interval', '200ms', '--health-retries', '2', 'busybox', 'sh', '-c', 'sleep 3; echo fine > /tmp/ok; sleep 600']);
    assert.equal(r.code, 0, r.stderr);
    const status = async () => (await e.berth(['inspect', '-f', '{{.State.Health.Status}}', 'c-health'])).stdout.trim();
    await eventually(async () => (await status()) === 'unhealthy', 10_000);
    await eventually(async () => (await status()) === 'healthy', 10_000);
    const last = JSON.parse((await e.berth(['inspect', '-f', '{{json .State.Health}}', 'c-health'])).stdout) as { FailingStreak: number; Log: Array<{ ExitCode: number; Output: string }> };
    assert.equal(last.FailingStreak, 0);
    assert.equal(last.Log.at(-1)?.Output, 'fine\n', 'the probe output is kept');
    assert.ok(last.Log.length <= 5);
    const ps = await e.berth(['ps', '--filter', 'health=healthy', '--format', '{{.Names}} {{.Status}}']);
    assert.match(ps.stdout, /^c-health Up .* \(healthy\)$/m);
    const ev = await e.berth(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'container=c-health', '--format', '{{.Action}}']);
    assert.match(ev.stdout, /health_status: unhealthy/);
    assert.match(ev.stdout, /health_status: healthy/);
    await e.berth(['rm', '-f', 'c-health']);

    const slow = await e.berth(['run', '-d', '--name', 'c-health-slow', '--health-cmd', 'sleep 5', '--health-interval', '200ms', '--health-timeout', '300ms', '--health-retries', '1', 'busybox', 'sleep', '600']);
    assert.equal(slow.code, 0, slow.stderr);
    await eventually(async () => (await e.berth(['inspect', '-f', '{{.State.Health.Status}}', 'c-health-slow'])).stdout.trim() === 'unhealthy', 10_000);
    const log = JSON.parse((await e.berth(['inspect', '-f', '{{json .State.Health.Log}}', 'c-health-slow'])).stdout) as Array<{ ExitCode: number; Output: string }>;
    assert.equal(log[0].ExitCode, -1);
    assert.equal(log[0].Output, 'Health check exceeded timeout (300ms)');
    await e.berth(['rm', '-f', 'c-health-slow']);

    const none = await e.berth(['run', '--rm', '--no-healthcheck', 'busybox', 'true']);
    assert.equal(none.code, 0, none.stderr);
    const bad = await e.berth(['run', '--rm', '--health-interval', '5 seconds', 'busybox', 'true']);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /invalid duration/);
  });

  test('stats: CPU, memory limit and pids from the cgroups, as a table and through the docker CLI', async () => {
    const r = await e.berth(['run', '-d', '--name', 'c-stats', '-m', '64m', 'busybox', 'sh', '-c', 'while true; do :; done']);
    assert.equal(r.code, 0, r.stderr);
    try {
      const s = await e.berth(['stats', '--no-stream', '--format', '{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}', 'c-stats']);
      assert.equal(s.code, 0, s.stderr);
      const [name, cpu, mem, pids] = s.stdout.trim().split('|');
      assert.equal(name, 'c-stats');
      assert.ok(parseFloat(cpu) > 20, `a busy loop uses CPU: ${cpu}`);
      assert.match(mem, / \/ 64MiB$/);
      assert.equal(pids, '1');
      const table = await e.berth(['stats', '--no-stream']);
      assert.match(table.stdout, /^CONTAINER ID +NAME +CPU % +MEM USAGE \/ LIMIT +MEM % +NET I\/O +BLOCK I\/O +PIDS$/m);
      const d = await e.docker(['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}}', 'c-stats']);
      assert.equal(d.stdout.trim(), 'c-stats 1', d.stderr);
    } finally {
      await e.berth(['rm', '-f', 'c-stats']);
    }
  });

  test('--no-trunc prints full IDs (ps, images, history)', async () => {
    await e.berth(['create', '--name', 'c-notrunc', 'busybox', 'true']);
    try {
      const ps = await e.berth(['ps', '-aq', '--no-trunc', '--filter', 'name=c-notrunc']);
      assert.match(ps.stdout, /^[0-9a-f]{64}\n$/);
      assert.match((await e.berth(['ps', '-aq', '--filter', 'name=c-notrunc'])).stdout, /^[0-9a-f]{12}\n$/);
      assert.match((await e.berth(['images', '-q', '--no-trunc', 'busybox'])).stdout, /^sha256:[0-9a-f]{64}\n$/);
      assert.match((await e.berth(['history', '-q', '--no-trunc', 'busybox'])).stdout, /^sha256:[0-9a-f]{64}\n/);
    } finally {
      await e.berth(['rm', 'c-notrunc']);
    }
  });

  test('a reader that goes away (| head) ends the CLI quietly with 141, as SIGPIPE would', () => {
    const r = spawnSync('bash', ['-c', `"${BERTH_BIN}" save busybox | head -c 100 > /dev/null; echo "rc=\${PIPESTATUS[0]}"`], { env: e.env, encoding: 'utf8' });
    assert.equal(r.stdout.trim(), 'rc=141');
    assert.doesNotMatch(r.stderr, /EPIPE|at /, 'no stack trace');
  });

  test('ended execs are forgotten after the retention time: no records or log dirs pile up', async () => {
    const r = await e.berth(['run', '-d', '--name', 'c-execs', 'busybox', 'sleep', '600']);
    assert.equal(r.code, 0, r.stderr);
    try {
      const id = r.stdout.trim();
      const execDir = join(e.root, 'containers', id, 'exec');
      for (let i = 0; i < 3; i++) assert.equal((await e.berth(['exec', 'c-execs', 'true'])).code, 0);
      assert.equal(readdirSync(execDir).length, 3, 'each exec keeps its dir for a while');
      await eventually(() => readdirSync(execDir).length === 0, 15_000);
      assert.equal((await e.berth(['exec', 'c-execs', 'echo', 'still'])).stdout, 'still\n');
    } finally {
      await e.berth(['rm', '-f', 'c-execs']);
    }
  });

  test('update: limits change in the running container and stay for its next start; restart policy; Docker\'s errors', async () => {
    const r = await e.berth(['run', '-d', '--name', 'c-upd', '-m', '64m', '--pids-limit', '20', 'busybox', 'sleep', '600']);
    assert.equal(r.code, 0, r.stderr);
    try {
      const limits = async () => (await e.berth(['exec', 'c-upd', 'sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us'])).stdout.trim().split('\n');
      assert.deepEqual(await limits(), [String(64 << 20), '20', '-1']);
      const u = await e.berth(['update', '-m', '128m', '--memory-swap', '256m', '--pids-limit', '50', '--cpus', '0.5', '--restart', 'on-failure:3', 'c-upd']);
      assert.equal(u.code, 0, u.stderr);
      assert.equal(u.stdout, 'c-upd\n');
      assert.deepEqual(await limits(), [String(128 << 20), '50', '50000']);
      const hc = await e.berth(['inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}', 'c-upd']);
      assert.equal(hc.stdout.trim(), `${128 << 20} 50 on-failure:3`);
      // The docker CLI's update takes the same route.
      const d = await e.docker(['update', '--memory', '96m', '--memory-swap', '200m', 'c-upd']);
      assert.equal(d.code, 0, d.stderr);
      assert.deepEqual((await limits())[0], String(96 << 20));
      // Kept for the next start.
      assert.equal((await e.berth(['restart', '-t', '0', 'c-upd'])).code, 0);
      assert.deepEqual(await limits(), [String(96 << 20), '50', '50000']);
      const bad = await e.berth(['update', '-m', '1m', 'c-upd']);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /Minimum memory limit allowed is 6MB/);
    } finally {
      await e.berth(['rm', '-f', 'c-upd']);
    }
    await e.berth(['run', '-d', '--rm', '--name', 'c-upd-rm', 'busybox', 'sleep', '600']);
    const rm = await e.berth(['update', '--restart', 'always', 'c-upd-rm']);
    assert.match(rm.stderr, /AutoRemove is enabled/);
    await e.berth(['rm', '-f', 'c-upd-rm']);
  });

  test('commit and diff capture the writable layer', async () => {
    await e.berth(['run', '--name', 'c-commit', 'busybox', 'sh', '-c', 'echo v1 > /newfile; rm /bin/vi; echo x >> /etc/group']);
    const diff = await e.berth(['diff', 'c-commit']);
    const lines = diff.stdout.trim().split('\n');
    assert.ok(lines.includes('A /newfile'), diff.stdout);
    assert.ok(lines.includes('D /bin/vi'), diff.stdout);
    assert.ok(!lines.some((l) => /hosts|resolv|hostname/.test(l)), diff.stdout);
    assert.ok(lines.includes('C /etc/group'), diff.stdout);
    const c = await e.berth(['commit', '-c', 'ENV COMMITTED=yes', 'c-commit', 'committed:1']);
    assert.equal(c.code, 0, c.stderr);
    const r = await e.berth(['run', '--rm', 'committed:1', 'sh', '-c', 'cat /newfile; ls /bin/vi 2>&1; echo $COMMITTED']);
    assert.match(r.stdout, /^v1\n.*No such file.*\nyes\n$/s);
    const hist = await e.berth(['history', '-q', 'committed:1']);
    assert.equal(hist.stdout.trim().split('\n').length, 2);
  });

  test('stop sends SIGTERM then SIGKILL; restart; rm refuses running', async () => {
    await e.berth(['run', '-d', '--name', 'c-stop', 'busybox', 'sh', '-c', 'trap "echo got-term; exit 3" TERM; while true; do sleep 0.1; done']);
    await eventually(async () => (await e.berth(['logs', 'c-stop'])).code === 0);
    await new Promise((r) => setTimeout(r, 300));
    const s = await e.berth(['stop', 'c-stop']);
    assert.equal(s.code, 0, s.stderr);
    assert.equal((await e.berth(['inspect', '-f', '{{.State.ExitCode}}', 'c-stop'])).stdout.trim(), '3');
    assert.match((await e.berth(['logs', 'c-stop'])).stdout, /got-term/);
    await e.berth(['start', 'c-stop']);
    assert.equal((await e.berth(['inspect', '-f', '{{.State.Running}}', 'c-stop'])).stdout.trim(), 'true');
    const rm = await e.berth(['rm', 'c-stop']);
    assert.notEqual(rm.code, 0);
    assert.match(rm.stderr, /running/);
    assert.equal((await e.berth(['rm', '-f', 'c-stop'])).code, 0);
  });

  test('ps, rename, pause/unpause, top, --rm leaves nothing', async () => {
    await e.berth(['run', '-d', '--name', 'c-ps', 'busybox', 'sleep', '600']);
    const ps = await e.berth(['ps', '--format', '{{.Names}} {{.Status}}', '--filter', 'name=c-ps']);
    assert.match(ps.stdout, /^c-ps Up /);
    assert.equal((await e.berth(['rename', 'c-ps', 'c-ps2'])).code, 0);
    assert.equal((await e.berth(['pause', 'c-ps2'])).code, 0);
    assert.equal((await e.berth(['inspect', '-f', '{{.State.Status}}', 'c-ps2'])).stdout.trim(), 'paused');
    assert.equal((await e.berth(['unpause', 'c-ps2'])).code, 0);
    const top = await e.berth(['top', 'c-ps2']);
    assert.match(top.stdout, /sleep 600/);
    const before = (await e.berth(['ps', '-aq'])).stdout.trim().split('\n').length;
    await e.berth(['run', '--rm', 'busybox', 'true']);
    const afterCount = (await e.berth(['ps', '-aq'])).stdout.trim().split('\n').length;
    assert.equal(afterCount, before);
  });

  test('restart policy on-failure restarts until the limit', async () => {
    await e.berth(['run', '-d', '--name', 'c-restart', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'exit 1']);
    await eventually(async () => (await e.berth(['inspect', '-f', '{{.RestartCount}} {{.State.Status}}', 'c-restart'])).stdout.trim() === '2 exited', 15_000);
  });
});
