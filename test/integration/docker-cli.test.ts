/**
 * The real docker CLI (/usr/local/bin/docker, 28.x) against berthd: DOCKER_HOST points at
 * this engine's socket and every assertion is on what `docker` prints and its exit code.
 * Images, containers, logs, exec, stop/kill/rm, commit/diff/export/cp, save/load into a
 * second engine, events.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { DOCKER_BIN, type RunResult, TestEngine, busyboxTar, eventually, isRoot, runProcess } from '../helpers/engine';

const skip = !isRoot() ? 'needs root: mounts overlays and runs runc' : !existsSync(DOCKER_BIN) ? `no docker CLI at ${DOCKER_BIN}` : false;

function dockerEnv(e: TestEngine): NodeJS.ProcessEnv {
  return { ...e.env, DOCKER_HOST: `unix://${e.socket}`, DOCKER_CONFIG: join(e.dir, 'docker-config') };
}

/** A bash pipeline with `docker` pointed at engine `e` (for `docker export | tar -t` and friends). */
function sh(e: TestEngine, script: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return runProcess('bash', ['-o', 'pipefail', '-c', script], { ...dockerEnv(e), ...extraEnv });
}

const lines = (s: string) => s.split('\n').filter(Boolean);
const BLOB = randomBytes(3 << 20);
const BLOB_MD5 = createHash('md5').update(BLOB).digest('hex');

describe('the docker CLI against berthd', { skip }, () => {
  const e = new TestEngine();
  const e2 = new TestEngine();
  const work = join(e.dir, 'work');

  /** Runs docker and asserts exit code 0; returns stdout. */
  async function docker(args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<string> {
    const r = await e.docker(args, opts);
    assert.equal(r.code, 0, `docker ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  before(async () => {
    await Promise.all([e.start(), e2.start()]);
    await e.busybox();
    mkdirSync(work, { recursive: true });
  });
  after(async () => {
    await Promise.all([e.cleanup(), e2.cleanup()]);
  });

  test('version and info show the Berth server', async () => {
    const v = await e.docker(['version']);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^Server: Berth$/m);
    // The CLI negotiated down to the version Berth reports.
    assert.match(v.stdout, /API version:\s+1\.45 \(downgraded from 1\.\d+\)/);
    assert.match(v.stdout, /API version:\s+1\.45 \(minimum version 1\.24\)/);
    assert.equal((await docker(['version', '--format', '{{.Server.APIVersion}} {{.Server.Os}}'])).trim(), '1.45 linux');
    const info = await docker(['info']);
    assert.match(info, /Storage Driver: overlay/);
    assert.match(info, /Swarm: inactive/);
    assert.match(info, /Default Runtime: runc/);
    assert.equal((await docker(['info', '--format', '{{.Images}} {{.OSType}}'])).trim(), '1 linux');
    const df = lines(await docker(['system', 'df']));
    assert.match(df[0], /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/);
    assert.match(df[1], /^Images\s+1\s+0\s+\d/);
  });

  test('import (file and stdin, --change), images, tag, inspect, history, rmi', async () => {
    const tar = busyboxTar();
    const idFile = (await docker(['import', '--change', 'CMD ["echo","from-file"]', '--change', 'ENV IMPORTED=file', tar, 'dk-imp:file'])).trim();
    assert.match(idFile, /^sha256:[0-9a-f]{64}$/);
    const idStdin = (await docker(['import', '-c', 'WORKDIR /tmp', '-c', 'ENV IMPORTED=stdin', '-m', 'via stdin', '-', 'dk-imp:stdin'], { input: readFileSync(tar) })).trim();
    assert.match(idStdin, /^sha256:[0-9a-f]{64}$/);
    assert.notEqual(idStdin, idFile, 'different config, different image ID');

    assert.equal(await docker(['run', '--rm', 'dk-imp:file']), 'from-file\n');
    assert.equal(await docker(['run', '--rm', 'dk-imp:stdin', 'sh', '-c', 'pwd; echo $IMPORTED']), '/tmp\nstdin\n');

    const table = lines(await docker(['images']));
    assert.match(table[0], /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    assert.ok(table.some((l) => new RegExp(`^dk-imp\\s+file\\s+${idFile.slice(7, 19)}\\s+.*ago\\s+\\d`).test(l)), table.join('\n'));
    const fmt = lines(await docker(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']));
    assert.ok(fmt.includes(`dk-imp:file ${idFile.slice(7, 19)}`), fmt.join('\n'));
    assert.ok(fmt.includes(`busybox:latest ${(await docker(['image', 'inspect', '-f', '{{.Id}}', 'busybox'])).trim().slice(7, 19)}`), fmt.join('\n'));
    assert.ok(lines(await docker(['images', '-q'])).includes(idStdin.slice(7, 19)));
    assert.equal((await docker(['images', '-q', '--no-trunc', 'dk-imp:stdin'])).trim(), idStdin);
    // The reference filter narrows the tags shown too.
    assert.deepEqual(lines(await docker(['images', '--filter', 'reference=dk-imp:f*', '--format', '{{.Repository}}:{{.Tag}}'])), ['dk-imp:file']);

    assert.equal(await docker(['tag', 'dk-imp:file', 'dk-imp:copy']), '');
    assert.equal((await docker(['image', 'inspect', '--format', '{{.Id}}', 'dk-imp:copy'])).trim(), idFile);
    assert.equal((await docker(['inspect', '--format', '{{.Id}}', 'dk-imp:file'])).trim(), idFile);
    const config = JSON.parse(await docker(['inspect', '--format', '{{json .Config}}', 'dk-imp:file'])) as { Cmd: string[]; Env: string[] };
    assert.deepEqual(config.Cmd, ['echo', 'from-file']);
    assert.ok(config.Env.includes('IMPORTED=file'), JSON.stringify(config));
    const full = JSON.parse(await docker(['image', 'inspect', 'dk-imp:stdin'])) as Array<{ Id: string; RepoTags: string[]; Comment: string; Config: { WorkingDir: string }; RootFS: { Layers: string[] } }>;
    assert.equal(full.length, 1);
    assert.equal(full[0].Id, idStdin);
    assert.deepEqual(full[0].RepoTags, ['dk-imp:stdin']);
    assert.equal(full[0].Comment, 'via stdin');
    assert.equal(full[0].Config.WorkingDir, '/tmp');
    assert.equal(full[0].RootFS.Layers.length, 1);

    const hist = lines(await docker(['history', 'dk-imp:stdin']));
    assert.match(hist[0], /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    assert.match(hist[1], new RegExp(`^${idStdin.slice(7, 19)}\\s+.*ago\\s+.*via stdin$`));
    assert.deepEqual(lines(await docker(['history', '--no-trunc', '--format', '{{.ID}} {{.Comment}}', 'dk-imp:stdin'])), [`${idStdin} via stdin`]);

    // rmi: untag only while another tag remains; refused while a container uses the image.
    assert.equal(await docker(['rmi', 'dk-imp:copy']), 'Untagged: dk-imp:copy\n');
    await docker(['create', '--name', 'dk-imp-user', 'dk-imp:file']);
    const refused = await e.docker(['rmi', 'dk-imp:file']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /conflict: unable to remove repository reference "dk-imp:file" \(must force\) - container [0-9a-f]{12} is using its referenced image/);
    await docker(['rm', 'dk-imp-user']);
    assert.deepEqual(lines(await docker(['rmi', 'dk-imp:file'])), ['Untagged: dk-imp:file', `Deleted: ${idFile}`]);
    const gone = await e.docker(['image', 'inspect', 'dk-imp:file']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /No such image/i);
    assert.deepEqual(lines(await docker(['rmi', idStdin])), ['Untagged: dk-imp:stdin', `Deleted: ${idStdin}`]);
  });

  test('run: stdout, exit codes 0/7/126/127, separate stderr, stdin', async () => {
    assert.equal(await docker(['run', '--rm', 'busybox', 'echo', 'hello']), 'hello\n');
    assert.equal((await e.docker(['run', '--rm', 'busybox', 'sh', '-c', 'exit 7'])).code, 7);

    const missing = await e.docker(['run', '--rm', '--name', 'dk-127', 'busybox', 'no-such-command']);
    assert.equal(missing.code, 127, missing.stderr);
    assert.match(missing.stderr, /executable file not found/);
    const notExec = await e.docker(['run', '--rm', '--name', 'dk-126', 'busybox', '/etc/passwd']);
    assert.equal(notExec.code, 126, notExec.stderr);
    assert.match(notExec.stderr, /permission denied/);
    // --rm also applies when the start failed (the CLI waits for the removal).
    assert.equal(await docker(['ps', '-aq', '--filter', 'name=dk-12']), '');

    const split = await e.docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo to-out; echo to-err >&2']);
    assert.equal(split.code, 0, split.stderr);
    assert.equal(split.stdout, 'to-out\n');
    assert.equal(split.stderr, 'to-err\n');

    assert.equal(await docker(['run', '-i', '--rm', 'busybox', 'cat'], { input: 'hi\nthere\n' }), 'hi\nthere\n');
    // stdin is closed on EOF: wc sees the end and the container exits.
    assert.equal((await docker(['run', '-i', '--rm', 'busybox', 'wc', '-l'], { input: 'a\nb\nc\n' })).trim(), '3');
    // Megabytes of binary stdin arrive intact (conmon's attach socket drops what a packet holds past 32 KiB).
    assert.equal((await docker(['run', '-i', '--rm', 'busybox', 'md5sum'], { input: BLOB })).split(' ')[0], BLOB_MD5);
    assert.equal(await docker(['run', '--rm', '-t', 'busybox', 'sh', '-c', 'tty >/dev/null && echo is-a-tty']), 'is-a-tty\r\n');
  });

  test('run -d, ps (-a, -q, --filter, --format), inspect', async () => {
    const id = (await docker(['run', '-d', '--name', 'dk-web', 'busybox', 'sleep', '300'])).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    await docker(['run', '--name', 'dk-exited', 'busybox', 'true']);

    const table = lines(await docker(['ps']));
    assert.match(table[0], /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    assert.ok(table.some((l) => new RegExp(`^${id.slice(0, 12)}\\s+busybox\\s+"sleep 300"\\s+.*\\s+Up .*\\s+dk-web$`).test(l)), table.join('\n'));
    assert.ok(!table.some((l) => l.endsWith('dk-exited')), 'ps without -a lists running containers only');
    assert.ok(lines(await docker(['ps', '-q'])).includes(id.slice(0, 12)));
    assert.ok(lines(await docker(['ps', '-a', '--format', '{{.Names}}'])).includes('dk-exited'));
    assert.match(await docker(['ps', '--filter', 'name=dk-web', '--format', '{{.Names}} {{.Status}}']), /^dk-web Up [^\n]+\n$/);
    assert.match(await docker(['ps', '-a', '--filter', 'name=dk-exited', '--format', '{{.Names}} {{.Status}}']), /^dk-exited Exited \(0\) [^\n]+ ago\n$/);
    assert.equal(await docker(['ps', '-a', '-q', '--no-trunc', '--filter', 'name=dk-web']), `${id}\n`);

    assert.equal((await docker(['inspect', '-f', '{{.Id}} {{.Name}} {{.State.Status}} {{.State.Running}} {{.Config.Image}}', 'dk-web'])).trim(), `${id} /dk-web running true busybox`);
    // The CLI's empty LogConfig.Type means the default driver; --log-opt values are kept.
    assert.equal((await docker(['inspect', '-f', '{{.HostConfig.LogConfig.Type}}', 'dk-web'])).trim(), 'k8s-file');
    await docker(['create', '--name', 'dk-logopt', '--log-opt', 'max-size=1m', 'busybox', 'true']);
    assert.equal((await docker(['inspect', '-f', '{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config "max-size"}}', 'dk-logopt'])).trim(), 'k8s-file 1m');
    await docker(['rm', 'dk-logopt']);
    const cfg = JSON.parse(await docker(['container', 'inspect', '--format', '{{json .Config}}', 'dk-web'])) as { Cmd: string[]; Image: string };
    assert.deepEqual(cfg.Cmd, ['sleep', '300']);
    assert.equal((await docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'dk-exited'])).trim(), 'exited 0');
    const none = await e.docker(['inspect', 'dk-no-such']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /No such object: dk-no-such/);
  });

  test('logs: all, --tail, -t, stream separation, -f ends when the container exits', async () => {
    await docker(['run', '--name', 'dk-logs', 'busybox', 'sh', '-c', 'echo oops >&2; sleep 0.1; for i in 1 2 3 4 5; do echo line$i; done']);
    const all = await e.docker(['logs', 'dk-logs']);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout, 'line1\nline2\nline3\nline4\nline5\n');
    assert.equal(all.stderr, 'oops\n');
    assert.equal(await docker(['logs', '--tail', '2', 'dk-logs']), 'line4\nline5\n');
    assert.match(await docker(['logs', '-t', '--tail', '1', 'dk-logs']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z line5\n$/);

    await docker(['run', '-d', '--name', 'dk-follow', 'busybox', 'sh', '-c', 'echo first; sleep 1; echo second']);
    const started = Date.now();
    const f = await e.docker(['logs', '-f', 'dk-follow'], { timeoutMs: 20_000 });
    assert.equal(f.code, 0, f.stderr);
    assert.equal(f.stdout, 'first\nsecond\n');
    assert.ok(Date.now() - started < 15_000);
    assert.equal((await docker(['inspect', '-f', '{{.State.Status}}', 'dk-follow'])).trim(), 'exited');
  });

  test('exec: exit code, -i stdin, -e, -w, -u, separate stderr', async () => {
    assert.equal((await e.docker(['exec', 'dk-web', 'sh', '-c', 'exit 3'])).code, 3);
    assert.equal(await docker(['exec', '-i', 'dk-web', 'cat'], { input: 'piped in\n' }), 'piped in\n');
    assert.equal((await docker(['exec', '-i', 'dk-web', 'md5sum'], { input: BLOB })).split(' ')[0], BLOB_MD5);
    assert.equal(await docker(['exec', '-e', 'FOO=bar', 'dk-web', 'sh', '-c', 'echo $FOO']), 'bar\n');
    assert.equal(await docker(['exec', '-w', '/tmp', 'dk-web', 'pwd']), '/tmp\n');
    assert.equal(await docker(['exec', '-u', 'nobody', 'dk-web', 'id', '-u']), '65534\n');
    assert.match(await docker(['exec', '--user', '1234:5678', 'dk-web', 'id']), /^uid=1234 gid=5678/);
    const split = await e.docker(['exec', 'dk-web', 'sh', '-c', 'echo o; echo e >&2']);
    assert.equal(split.stdout, 'o\n');
    assert.equal(split.stderr, 'e\n');
    const stopped = await e.docker(['exec', 'dk-exited', 'true']);
    assert.notEqual(stopped.code, 0);
    assert.match(stopped.stderr, /is not running/);
    const missing = await e.docker(['exec', 'dk-web', 'no-such-command']);
    assert.equal(missing.code, 127, missing.stderr);
  });

  test('top, rename, pause/unpause', async () => {
    const top = lines(await docker(['top', 'dk-web']));
    assert.match(top[0], /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    assert.ok(top.slice(1).some((l) => /\ssleep 300$/.test(l)), top.join('\n'));

    assert.equal(await docker(['rename', 'dk-web', 'dk-web2']), '');
    assert.equal(await docker(['ps', '--filter', 'name=dk-web', '--format', '{{.Names}}']), 'dk-web2\n');

    assert.equal(await docker(['pause', 'dk-web2']), 'dk-web2\n');
    assert.equal((await docker(['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', 'dk-web2'])).trim(), 'paused true');
    assert.match(await docker(['ps', '--filter', 'name=dk-web2', '--format', '{{.Status}}']), /^Up .* \(Paused\)\n$/);
    assert.equal(await docker(['unpause', 'dk-web2']), 'dk-web2\n');
    assert.equal((await docker(['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', 'dk-web2'])).trim(), 'running false');
    assert.equal(await docker(['exec', 'dk-web2', 'echo', 'alive']), 'alive\n');
  });

  test('stop, kill (137, -s), wait, rm (-f), container prune', async () => {
    assert.equal(await docker(['stop', '-t', '1', 'dk-web2']), 'dk-web2\n');
    // sleep as PID 1 ignores SIGTERM: killed after the timeout.
    assert.equal((await docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'dk-web2'])).trim(), 'exited 137');

    await docker(['run', '-d', '--name', 'dk-kill', 'busybox', 'sleep', '300']);
    assert.equal(await docker(['kill', 'dk-kill']), 'dk-kill\n');
    assert.equal(await docker(['wait', 'dk-kill']), '137\n');
    assert.match(await docker(['ps', '-a', '--filter', 'name=dk-kill', '--format', '{{.Status}}']), /^Exited \(137\)/);

    await docker(['run', '-d', '--name', 'dk-sig', 'busybox', 'sh', '-c', 'trap "echo got-usr1; exit 9" USR1; while true; do sleep 0.1; done']);
    await eventually(async () => (await docker(['top', 'dk-sig'])).includes('sleep'));
    assert.equal(await docker(['kill', '-s', 'USR1', 'dk-sig']), 'dk-sig\n');
    assert.equal(await docker(['wait', 'dk-sig']), '9\n');
    assert.equal(await docker(['logs', 'dk-sig']), 'got-usr1\n');

    await docker(['run', '-d', '--name', 'dk-rm', 'busybox', 'sleep', '300']);
    const refused = await e.docker(['rm', 'dk-rm']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /container is running: stop the container before removing or force remove/);
    assert.equal(await docker(['rm', '-f', 'dk-rm']), 'dk-rm\n');
    assert.equal((await e.docker(['inspect', 'dk-rm'])).code, 1);
    assert.equal(await docker(['rm', 'dk-kill']), 'dk-kill\n');

    await docker(['run', '-d', '--name', 'dk-keep', 'busybox', 'sleep', '300']);
    const exitedId = (await docker(['inspect', '-f', '{{.Id}}', 'dk-exited'])).trim();
    const pruned = await docker(['container', 'prune', '-f']);
    assert.match(pruned, /^Deleted Containers:\n/);
    assert.ok(lines(pruned).includes(exitedId), pruned);
    assert.match(pruned, /Total reclaimed space: /);
    assert.deepEqual(lines(await docker(['ps', '-a', '--format', '{{.Names}}'])), ['dk-keep'], 'only the running container is left');
  });

  test('diff, commit (and run the committed image), export | tar -t', async () => {
    await docker(['run', '--name', 'dk-changes', 'busybox', 'sh', '-c', 'echo hello > /newfile; rm /bin/vi; echo extra >> /etc/passwd; mkdir /tmp/newdir']);
    const diff = lines(await docker(['diff', 'dk-changes']));
    for (const want of ['A /newfile', 'D /bin/vi', 'C /bin', 'C /etc', 'C /etc/passwd', 'A /tmp/newdir']) assert.ok(diff.includes(want), `${want} missing from:\n${diff.join('\n')}`);

    const id = (await docker(['commit', '-c', 'ENV COMMITTED=yes', '-m', 'a message', 'dk-changes', 'dk-committed:v1'])).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal((await docker(['image', 'inspect', '-f', '{{.Id}}', 'dk-committed:v1'])).trim(), id);
    assert.equal(await docker(['run', '--rm', 'dk-committed:v1', 'sh', '-c', 'cat /newfile; test -e /bin/vi || echo vi-gone; tail -1 /etc/passwd; echo $COMMITTED']), 'hello\nvi-gone\nextra\nyes\n');
    const hist = lines(await docker(['history', '--format', '{{.Comment}}|{{.CreatedBy}}', 'dk-committed:v1']));
    assert.equal(hist.length, 2, hist.join('\n'));
    assert.match(hist[0], /^a message\|sh -c echo hello/);

    const exp = await sh(e, 'docker export dk-changes | tar -t');
    assert.equal(exp.code, 0, exp.stderr);
    const entries = lines(exp.stdout);
    assert.ok(entries.includes('newfile'), 'export has the new file');
    assert.ok(entries.includes('bin/busybox'), 'export has the image files');
    assert.ok(!entries.includes('bin/vi'), 'export lacks the deleted file');
    // export -o, and a reader that stops early does not wedge the next export.
    assert.equal((await sh(e, 'docker export dk-changes | head -c 512 >/dev/null; true')).code, 0);
    await docker(['export', '-o', join(work, 'export.tar'), 'dk-changes'], { timeoutMs: 20_000 });
    const list = await runProcess('tar', ['-tf', join(work, 'export.tar')], process.env);
    assert.ok(lines(list.stdout).includes('newfile'));
  });

  test('cp in and out of containers (files, directories, tar on stdout)', async () => {
    await docker(['run', '-d', '--name', 'dk-cp', 'busybox', 'sleep', '300']);
    const hostFile = join(work, 'cp-in.txt');
    writeFileSync(hostFile, 'cp content\n');
    assert.equal((await e.docker(['cp', hostFile, 'dk-cp:/tmp/'])).code, 0);
    assert.equal(await docker(['exec', 'dk-cp', 'cat', '/tmp/cp-in.txt']), 'cp content\n');
    await docker(['cp', hostFile, 'dk-cp:/tmp/renamed.txt']);
    assert.equal(await docker(['exec', 'dk-cp', 'cat', '/tmp/renamed.txt']), 'cp content\n');
    await docker(['exec', 'dk-cp', 'sh', '-c', 'echo changed inside >> /tmp/cp-in.txt']);
    await docker(['cp', 'dk-cp:/tmp/cp-in.txt', join(work, 'cp-out.txt')]);
    assert.equal(readFileSync(join(work, 'cp-out.txt'), 'utf8'), 'cp content\nchanged inside\n');

    mkdirSync(join(work, 'tree', 'sub'), { recursive: true });
    writeFileSync(join(work, 'tree', 'sub', 'leaf'), 'leaf\n');
    await docker(['cp', join(work, 'tree'), 'dk-cp:/srv']);
    assert.equal(await docker(['exec', 'dk-cp', 'cat', '/srv/sub/leaf']), 'leaf\n');
    await docker(['cp', 'dk-cp:/srv', join(work, 'back')]);
    assert.equal(readFileSync(join(work, 'back', 'sub', 'leaf'), 'utf8'), 'leaf\n');

    // From a stopped container, and as a tar stream on stdout.
    await docker(['cp', 'dk-changes:/newfile', join(work, 'newfile')]);
    assert.equal(readFileSync(join(work, 'newfile'), 'utf8'), 'hello\n');
    const tarOut = await sh(e, 'docker cp dk-cp:/etc - | tar -t');
    assert.equal(tarOut.code, 0, tarOut.stderr);
    assert.ok(lines(tarOut.stdout).includes('etc/passwd'), tarOut.stdout);

    const missing = await e.docker(['cp', 'dk-cp:/no/such/file', join(work, 'x')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Could not find the file \/no\/such\/file/);
  });

  test('save / load round trip into a second engine keeps image IDs', async () => {
    const ids = {
      busybox: (await docker(['image', 'inspect', '-f', '{{.Id}}', 'busybox'])).trim(),
      committed: (await docker(['image', 'inspect', '-f', '{{.Id}}', 'dk-committed:v1'])).trim(),
    };
    const file = join(work, 'images.tar');
    await docker(['save', '-o', file, 'busybox', 'dk-committed:v1'], { timeoutMs: 30_000 });
    const members = lines((await runProcess('tar', ['-tf', file], process.env)).stdout);
    for (const m of ['manifest.json', 'repositories', 'index.json', 'oci-layout']) assert.ok(members.includes(m), `${m} missing: ${members.join(' ')}`);

    const loaded = await e2.docker(['load', '-i', file], { timeoutMs: 30_000 });
    assert.equal(loaded.code, 0, loaded.stderr);
    assert.deepEqual(lines(loaded.stdout).sort(), ['Loaded image: busybox:latest', 'Loaded image: dk-committed:v1']);
    assert.equal((await e2.docker(['image', 'inspect', '-f', '{{.Id}}', 'busybox'])).stdout.trim(), ids.busybox);
    assert.equal((await e2.docker(['image', 'inspect', '-f', '{{.Id}}', 'dk-committed:v1'])).stdout.trim(), ids.committed);
    const ran = await e2.docker(['run', '--rm', 'dk-committed:v1', 'cat', '/newfile']);
    assert.equal(ran.stdout, 'hello\n', ran.stderr);

    // Through pipes: docker save | docker load (into the second engine, under a new tag).
    await docker(['tag', 'busybox', 'dk-piped:latest']);
    const piped = await sh(e, `docker save dk-piped | DOCKER_HOST=unix://${e2.socket} docker load`);
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(piped.stdout, 'Loaded image: dk-piped:latest\n');
    assert.equal((await e2.docker(['images', '--format', '{{.ID}}', 'dk-piped'])).stdout.trim(), ids.busybox.slice(7, 19));

    const bad = await e.docker(['save', 'dk-no-such-image'], { timeoutMs: 10_000 });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /No such image|reference does not exist/);
    const junk = await e2.docker(['load'], { input: 'not a tar archive at all' });
    assert.equal(junk.code, 1);
    assert.match(junk.stderr, /Error response from daemon/);
  });

  test('events --since/--until returns the create, start and die events', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const cid = (await docker(['run', '-d', '--name', 'dk-events', 'busybox', 'true'])).trim();
    assert.equal(await docker(['wait', 'dk-events']), '0\n');
    const until = Math.floor(Date.now() / 1000) + 1;
    const ev = await e.docker(['events', '--since', String(since), '--until', String(until), '--filter', 'container=dk-events', '--format', '{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}'], { timeoutMs: 15_000 });
    assert.equal(ev.code, 0, ev.stderr);
    const got = lines(ev.stdout);
    const actions = got.map((l) => l.split(' ')[1]);
    for (const a of ['create', 'start', 'die']) assert.ok(actions.includes(a), `no ${a} event in:\n${ev.stdout}`);
    assert.ok(actions.indexOf('create') < actions.indexOf('start') && actions.indexOf('start') < actions.indexOf('die'), ev.stdout);
    for (const l of got) assert.match(l, new RegExp(`^container \\S+ ${cid} dk-events$`));
    // The default format: the die event carries the exit code.
    const plain = await e.docker(['events', '--since', String(since), '--until', String(until), '--filter', 'event=die', '--filter', 'container=dk-events'], { timeoutMs: 15_000 });
    assert.match(plain.stdout, new RegExp(`container die ${cid} \\(.*exitCode=0.*name=dk-events.*\\)`));
  });
});
