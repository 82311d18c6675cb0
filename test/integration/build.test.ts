/** The builder end to end: berth build and DOCKER_BUILDKIT=0 docker build against a real berthd. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { TestEngine, isRoot, writeTree } from '../helpers/engine';

describe('build', { skip: isRoot() ? false : 'needs root' }, () => {
  const e = new TestEngine();
  let n = 0;
  /** A fresh context dir with these files (paths relative, '/'-separated). */
  const context = (files: Record<string, string>): string => writeTree(join(e.dir, `ctx${++n}`), files);
  const build = async (args: string[]) => {
    const r = await e.berth(['build', ...args]);
    return { ...r, all: r.stdout + r.stderr };
  };
  const inspect = async (ref: string, format: string) => (await e.berth(['image', 'inspect', '-f', format, ref])).stdout.trim();
  const run = async (ref: string, cmd: string) => {
    const r = await e.berth(['run', '--rm', '--entrypoint', 'sh', ref, '-c', cmd]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  before(async () => {
    await e.start();
    await e.busybox();
  });
  after(() => e.cleanup());

  test('multi-stage: COPY --from, ARG/ENV scoped per stage, --build-arg, --target', async () => {
    const dir = context({
      'Dockerfile': [
        'ARG VERSION=1.0',
        'FROM busybox AS builder',
        'ARG VERSION',
        'ARG ONLY_BUILDER=yes',
        'ENV STAGE=builder',
        'RUN echo "v=$VERSION only=$ONLY_BUILDER stage=$STAGE" > /out.txt',
        'FROM busybox AS final',
        'ARG VERSION',
        'RUN echo "v=$VERSION only=${ONLY_BUILDER:-unset} stage=${STAGE:-unset}" > /final.txt',
        'COPY --from=builder /out.txt /res/',
        'FROM busybox AS unused',
        'RUN exit 1',
        '',
      ].join('\n'),
    });
    const r = await build(['-t', 'ms:1', '--target', 'final', '--build-arg', 'VERSION=2.5', '--build-arg', 'NOBODY=1', dir]);
    assert.equal(r.code, 0, r.all);
    assert.match(r.stderr, /\[Warning\] One or more build-args \[NOBODY\] were not consumed/);
    assert.equal(await run('ms:1', 'cat /res/out.txt /final.txt'), 'v=2.5 only=yes stage=builder\nv=2.5 only=unset stage=unset\n');
    // Build args are not kept in the image; ENV of another stage is not either.
    assert.doesNotMatch(await inspect('ms:1', '{{json .Config.Env}}'), /VERSION|STAGE/);
    const bad = await build(['--target', 'nope', dir]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.all, /failed to reach build target nope in Dockerfile/);
  });

  test('.dockerignore with exceptions decides what COPY sees', async () => {
    const dir = context({
      'Dockerfile': 'FROM busybox\nCOPY . /ctx/\n',
      '.dockerignore': 'node_modules\n**/*.log\n!keep/important.log\nsecret.txt\n',
      'app.js': 'js',
      'secret.txt': 'no',
      'node_modules/dep/index.js': 'no',
      'logs/a.log': 'no',
      'keep/important.log': 'yes',
      'keep/other.log': 'no',
    });
    const r = await build(['-t', 'ign:1', dir]);
    assert.equal(r.code, 0, r.all);
    const files = (await run('ign:1', 'cd /ctx && find . -type f | sort')).trim().split('\n');
    assert.deepEqual(files, ['./.dockerignore', './Dockerfile', './app.js', './keep/important.log']);
  });

  test('USER and WORKDIR: steps run as the user in a workdir it owns', async () => {
    const dir = context({
      'Dockerfile': [
        'FROM busybox',
        'RUN echo "app:x:1234:1234::/home/app:/bin/sh" >> /etc/passwd && echo "app:x:1234:" >> /etc/group',
        'USER app',
        'WORKDIR /home/app/work',
        'RUN touch mine && id -u > uid.txt && pwd >> uid.txt',
        'COPY --chown=app:app f.txt ./',
        '',
      ].join('\n'),
      'f.txt': 'f',
    });
    const r = await build(['-t', 'usr:1', dir]);
    assert.equal(r.code, 0, r.all);
    assert.equal(await inspect('usr:1', '{{.Config.User}} {{.Config.WorkingDir}}'), 'app /home/app/work');
    assert.equal(await run('usr:1', 'cat uid.txt; stat -c "%u:%g %n" . mine f.txt'), '1234\n/home/app/work\n1234:1234 .\n1234:1234 mine\n1234:1234 f.txt\n');
  });

  test('HEALTHCHECK, ENTRYPOINT, CMD, EXPOSE, LABEL (+ --label), VOLUME, STOPSIGNAL land in the config; the image runs', async () => {
    const dir = context({
      'Dockerfile': [
        'FROM busybox',
        'RUN echo from-image > /msg',
        'HEALTHCHECK --interval=5s --timeout=3s --retries=2 CMD wget -q -O- localhost || exit 1',
        'ENTRYPOINT ["cat"]',
        'CMD ["/msg"]',
        'EXPOSE 8080 53/udp',
        'LABEL org.example.a=1',
        'VOLUME /data',
        'STOPSIGNAL SIGINT',
        'MAINTAINER someone',
        '',
      ].join('\n'),
    });
    const r = await build(['-t', 'cfg:1', '--label', 'extra=yes', dir]);
    assert.equal(r.code, 0, r.all);
    assert.equal(await inspect('cfg:1', '{{json .Config.Healthcheck}}'), '{"Test":["CMD-SHELL","wget -q -O- localhost || exit 1"],"Interval":5000000000,"Timeout":3000000000,"Retries":2}');
    assert.equal(await inspect('cfg:1', '{{json .Config.Entrypoint}} {{json .Config.Cmd}}'), '["cat"] ["/msg"]');
    assert.equal(await inspect('cfg:1', '{{json .Config.ExposedPorts}} {{json .Config.Labels}} {{json .Config.Volumes}} {{.Config.StopSignal}} {{.Author}}'), '{"53/udp":{},"8080/tcp":{}} {"extra":"yes","org.example.a":"1"} {"/data":{}} SIGINT someone');
    const out = await e.berth(['run', '--rm', 'cfg:1']);
    assert.equal(out.stdout, 'from-image\n', out.stderr);
    const hist = await e.docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'cfg:1']);
    assert.match(hist.stdout, /^RUN \/bin\/sh -c echo from-image > \/msg # buildkit$/m);
    assert.match(hist.stdout, /^ENTRYPOINT \["cat"\]$/m);
  });

  test('ADD extracts a local tar; heredocs; COPY --from=<image>; FROM scratch; ONBUILD triggers; context on stdin', async () => {
    const dir = context({ 'Dockerfile': 'FROM scratch\nCOPY --from=busybox /bin/busybox /bin/sh\nADD files.tar.gz /unpacked/\nCOPY <<EOF /inline.txt\nhello $NAME\nEOF\n', 'data/f.txt': 'in-tar\n' });
    const tar = spawnSync('tar', ['-czf', join(dir, 'files.tar.gz'), '-C', join(dir, 'data'), '.']);
    assert.equal(tar.status, 0);
    const r = await build(['-t', 'scratchy:1', dir]);
    assert.equal(r.code, 0, r.all);
    assert.equal(await inspect('scratchy:1', '{{len .RootFS.Layers}}'), '3');
    assert.equal(await run('scratchy:1', 'read x < /unpacked/f.txt; echo "$x"; read y < /inline.txt; echo "$y"'), 'in-tar\nhello\n');

    const base = context({ 'Dockerfile': 'FROM busybox\nONBUILD COPY marker.txt /marker.txt\nONBUILD RUN <<EOT\necho "triggered: $(cat /marker.txt)" > /trig.txt\nEOT\n' });
    assert.equal((await build(['-t', 'onb:base', base])).code, 0);
    const child = context({ 'Dockerfile': 'FROM onb:base\nCMD ["cat", "/trig.txt"]\n', 'marker.txt': 'child-context' });
    const c = await build(['-t', 'onb:child', child]);
    assert.equal(c.code, 0, c.all);
    assert.equal((await e.berth(['run', '--rm', 'onb:child'])).stdout, 'triggered: child-context\n');
    assert.equal(await inspect('onb:child', '{{json .Config.OnBuild}}'), 'null');

    const stdin = await e.berth(['build', '-q', '-'], { input: 'FROM busybox\nRUN echo piped > /p.txt\n' });
    assert.equal(stdin.code, 0, stdin.stderr);
    assert.equal(await run(stdin.stdout.trim(), 'cat /p.txt'), 'piped\n');
  });

  const cacheFiles = {
    'Dockerfile': ['FROM busybox', 'ENV A=1', 'COPY a.txt /a.txt', 'RUN cat /a.txt > /copy-a', 'COPY b.txt /b.txt', 'RUN cat /b.txt > /copy-b', 'CMD ["cat", "/copy-a", "/copy-b"]', ''].join('\n'),
    'a.txt': 'a1\n',
    'b.txt': 'b1\n',
  };
  const stepLines = (s: string) => s.split('\n').filter((l) => /^\[\d+\/\d+\]/.test(l));

  test('cache: a second build is all CACHED; changing one file rebuilds from its COPY only, and says why', async () => {
    const dir = context(cacheFiles);
    const first = await build(['-t', 'cache:1', dir]);
    assert.equal(first.code, 0, first.all);
    const second = await build(['-t', 'cache:2', dir]);
    assert.equal(second.code, 0, second.all);
    const steps = stepLines(second.stderr).slice(1); // FROM has nothing to cache
    assert.equal(steps.length, 6, second.stderr);
    for (const l of steps) assert.match(l, /CACHED$/, second.stderr);
    assert.equal(await inspect('cache:1', '{{.Id}}'), await inspect('cache:2', '{{.Id}}'));

    // New mtimes alone change nothing (a fresh clone hits the cache).
    for (const f of ['a.txt', 'b.txt']) utimesSync(join(dir, f), new Date(), new Date(2001, 1, 1));
    const touched = await build([dir]);
    for (const l of stepLines(touched.stderr).slice(1)) assert.match(l, /CACHED$/, touched.stderr);

    writeFileSync(join(dir, 'b.txt'), 'b2\n');
    const third = await build(['--progress', 'plain', '-t', 'cache:3', dir]);
    assert.equal(third.code, 0, third.all);
    assert.match(third.stderr, /\[2\/7\] ENV A=1 +CACHED/);
    assert.match(third.stderr, /\[3\/7\] COPY a.txt \/a.txt +CACHED/);
    assert.match(third.stderr, /\[4\/7\] RUN cat \/a.txt > \/copy-a +CACHED/);
    assert.match(third.stderr, /\[5\/7\] COPY b.txt \/b.txt\n +cache miss: files changed: b.txt\n/);
    assert.match(third.stderr, /\[6\/7\] RUN cat \/b.txt > \/copy-b\n +cache miss: an earlier step was rebuilt/);
    assert.equal((await e.berth(['run', '--rm', 'cache:3'])).stdout, 'a1\nb2\n');
  });

  test('cache survives a daemon restart; --no-cache and builder prune miss it', async () => {
    const dir = context(cacheFiles);
    assert.equal((await build([dir])).code, 0);
    await e.stopDaemon();
    await e.start();
    const again = await build([dir]);
    for (const l of stepLines(again.stderr).slice(1)) assert.match(l, /CACHED$/, again.stderr);
    const nocache = await build(['--no-cache', '--progress', 'plain', dir]);
    assert.doesNotMatch(nocache.stderr, /CACHED/);
    assert.match(nocache.stderr, /cache miss: --no-cache/);
    const prune = await e.berth(['builder', 'prune', '-f']);
    assert.equal(prune.code, 0, prune.stderr);
    assert.match(prune.stdout, /Total reclaimed space:/);
    const afterPrune = await build([dir]);
    assert.doesNotMatch(afterPrune.stderr, /CACHED/);
  });

  test('reproducible: two cold builds of the same context (other dir, other mtimes) give the same image ID', async () => {
    const dir = context({ ...cacheFiles, 'sub/c.txt': 'c\n', 'Dockerfile': cacheFiles.Dockerfile.replace('CMD', 'COPY sub /sub\nWORKDIR /w\nCMD') });
    const a = await build(['-q', '--no-cache', dir]);
    assert.equal(a.code, 0, a.all);
    const copy = join(e.dir, 'ctx-copy');
    cpSync(dir, copy, { recursive: true });
    for (const f of readdirSync(copy)) utimesSync(join(copy, f), new Date(), new Date());
    const b = await build(['-q', '--no-cache', copy]);
    assert.equal(b.code, 0, b.all);
    assert.match(a.stdout.trim(), /^sha256:[a-f0-9]{64}$/);
    assert.equal(a.stdout, b.stdout);
    assert.equal(await inspect(a.stdout.trim(), '{{.Created}}'), '1970-01-01T00:00:00Z');
  });

  test('a failing RUN names the Dockerfile line and exits non-zero; host network needs the daemon opt-in', async () => {
    const dir = context({ 'Dockerfile': 'FROM busybox\nRUN true\nRUN echo about to fail && false\nRUN echo never\n' });
    const r = await build([dir]);
    assert.equal(r.code, 1, r.all);
    assert.match(r.stderr, /about to fail/);
    assert.match(r.stderr, /Dockerfile:3: The command '\/bin\/sh -c echo about to fail && false' returned a non-zero code: 1/);
    assert.match(r.stderr, / 3 \| RUN echo about to fail && false/);
    assert.doesNotMatch(r.stderr, /never/);
    const parse = await build([context({ 'Dockerfile': 'FROM busybox\nRUNN x\n' })]);
    assert.notEqual(parse.code, 0);
    assert.match(parse.stderr, /Dockerfile:2: unknown instruction: RUNN/);
    const host = await build(['--network', 'host', dir]);
    assert.notEqual(host.code, 0);
    assert.match(host.stderr, /network.host is not allowed/);
    const url = await build([context({ 'Dockerfile': 'FROM busybox\nADD https://example.com/x /x\n' })]);
    assert.notEqual(url.code, 0);
    assert.match(url.stderr, /remote sources are not supported/);
  });

  test('WORKDIR /proc/self/fd/<n> (Leaky Vessels) stays inside the container', async () => {
    const dir = context({ 'Dockerfile': 'FROM busybox\nWORKDIR /proc/self/fd/7\nRUN cat ../../../etc/hostname > /seen || true\n' });
    const r = await build(['-t', 'leaky:1', dir]);
    if (r.code === 0) {
      const seen = await run('leaky:1', 'cat /seen');
      assert.notEqual(seen.trim(), readFileSync('/etc/hostname', 'utf8').trim());
    }
  });

  test('DOCKER_BUILDKIT=0 docker build through the socket builds and tags an image that runs', async () => {
    const dir = context({
      'Dockerfile': 'FROM busybox\nCOPY hello.txt /hello.txt\nRUN echo built >> /hello.txt\nCMD ["cat", "/hello.txt"]\n',
      'hello.txt': 'hello\n',
    });
    process.env.DOCKER_BUILDKIT = '0';
    try {
      const r = await e.docker(['build', '-t', 'dk/built:v1', dir]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /Step 1\/4 : FROM busybox/);
      assert.match(r.stdout, /Successfully built [a-f0-9]{12}/);
      assert.match(r.stdout, /Successfully tagged dk\/built:v1/);
      const again = await e.docker(['build', '-t', 'dk/built:v2', dir]);
      assert.match(again.stdout, /Using cache/);
      const fail = await e.docker(['build', context({ 'Dockerfile': 'FROM busybox\nRUN exit 3\n' })]);
      assert.equal(fail.code, 3, fail.stdout + fail.stderr);
      assert.match(fail.stderr, /returned a non-zero code: 3/);
    } finally {
      delete process.env.DOCKER_BUILDKIT;
    }
    const out = await e.berth(['run', '--rm', 'dk/built:v1']);
    assert.equal(out.stdout, 'hello\nbuilt\n', out.stderr);
  });
});
