/** develop.watch: rules as the loader reads and refuses them, and which changes they take. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProject } from '../../src/compose/load';
import { accepts, compileRules, containerPath, planBatch, watchedServices } from '../../src/compose/watch';

function withProject(yaml: string, files: Record<string, string>, fn: (dir: string, load: () => ReturnType<typeof loadProject>) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'berth-watch-unit-'));
  try {
    for (const [p, data] of Object.entries(files)) {
      mkdirSync(join(dir, p, '..'), { recursive: true });
      writeFileSync(join(dir, p), data);
    }
    writeFileSync(join(dir, 'compose.yaml'), yaml);
    fn(dir, () => loadProject({ cwd: dir, env: {} }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const svc = (watch: string, extra = '') => `services:\n  web:\n    image: busybox\n${extra}    develop:\n      watch:\n${watch}`;

test('rules load with paths made absolute and patterns kept', () => {
  withProject(svc('        - { action: sync, path: ./src, target: /app/, ignore: node_modules/ }\n        - { action: sync+exec, path: ./cfg, target: /cfg, exec: { command: kill -HUP 1 } }\n'), {}, (dir, load) => {
    const [a, b] = load().services.web.watch;
    assert.deepEqual(a, { action: 'sync', path: join(dir, 'src'), target: '/app', ignore: ['node_modules/'], include: [], exec: undefined, initialSync: false });
    assert.deepEqual(b.exec?.command, ['kill', '-HUP', '1']);
  });
});

test('malformed rules fail at load time, naming the rule', () => {
  const bad: Array<[string, RegExp]> = [
    ['        - { action: sync, path: ./src }\n', /services\.web\.develop\.watch\[0\]: target is required for the sync action/],
    ['        - { action: sync+restart, path: ./src }\n', /target is required for the sync\+restart action/],
    ['        - { action: sync, path: ./src, target: app }\n', /target: the container path "app" must be absolute/],
    ['        - { action: sync+exec, path: ./src, target: /app }\n', /exec\.command is required for the sync\+exec action/],
    ['        - { action: teleport, path: ./src }\n', /action must be one of rebuild, sync, restart, sync\+restart, sync\+exec/],
    ['        - { action: rebuild }\n', /path/],
    ['        - { action: sync, path: ./src, target: /app, ignore: ["!"] }\n', /watch\[0\]\.ignore: illegal exclusion pattern/],
  ];
  for (const [rule, want] of bad) withProject(svc(rule), {}, (_dir, load) => assert.throws(load, want, rule));
});

test('a change counts when under the path and not ignored: rule patterns, .git, editor files, the context .dockerignore', () => {
  withProject(svc('        - { action: sync, path: ., target: /app, ignore: [tmp/, "**/*.log"] }\n', '    build: .\n'), { '.dockerignore': 'secret.env\n', Dockerfile: 'FROM busybox\n' }, (dir, load) => {
    const [c] = compileRules(load().services.web);
    const yes = ['main.js', 'lib/a.js', 'Dockerfile'];
    const no = ['tmp/x', 'a/b.log', '.git/HEAD', 'lib/.main.js.swp', 'lib/main.js~', 'secret.env', '4913'];
    for (const p of yes) assert.ok(accepts(c, join(dir, p)), p);
    for (const p of no) assert.ok(!accepts(c, join(dir, p)), p);
    assert.ok(!accepts(c, join(dir, '..', 'elsewhere')));
    assert.equal(containerPath(c.rule, join(dir, 'lib/a.js')), '/app/lib/a.js');
    assert.equal(containerPath(c.rule, dir), '/app');
  });
});

test('include narrows a rule; a batch with a rebuild rebuilds; children of a synced directory are left to it', () => {
  withProject(svc('        - { action: sync, path: ./src, target: /app, include: ["*.py"] }\n        - { action: rebuild, path: ./deps.txt }\n        - { action: sync+restart, path: ./conf, target: /conf }\n', '    build: .\n'), { Dockerfile: 'FROM busybox\n' }, (dir, load) => {
    const rules = compileRules(load().services.web);
    assert.ok(accepts(rules[0], join(dir, 'src/app.py')));
    assert.ok(!accepts(rules[0], join(dir, 'src/readme.md')));
    const sync = planBatch(rules, [join(dir, 'src/app.py'), join(dir, 'src/readme.md'), join(dir, 'conf'), join(dir, 'conf/a.conf')]);
    assert.equal(sync.rebuild, false);
    assert.equal(sync.restart, true);
    assert.equal(sync.changes, 3);
    assert.deepEqual([...sync.sync], [[join(dir, 'src/app.py'), '/app/app.py'], [join(dir, 'conf'), '/conf']]);
    assert.equal(planBatch(rules, [join(dir, 'deps.txt'), join(dir, 'src/app.py')]).rebuild, true);
  });
});

test('watch needs a service with develop.watch, and a build for rebuild rules', () => {
  withProject('services:\n  web:\n    image: busybox\n', {}, (_dir, load) => assert.throws(() => watchedServices(load()), /none of the selected services is configured for watch/));
  withProject(svc('        - { action: rebuild, path: . }\n'), {}, (_dir, load) => assert.throws(() => watchedServices(load()), /can't watch service "web" with action rebuild without a build context/));
  withProject(svc('        - { action: sync, path: ., target: /a }\n'), {}, (_dir, load) => assert.throws(() => watchedServices(load(), ['nope']), /no such service: nope/));
});
