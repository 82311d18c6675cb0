/** The compose loader: interpolation as compose-spec defines it, normalisation, and errors with paths. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { interpolate, parseEnvFile } from '../../src/compose/interpolate';
import { loadProject, order } from '../../src/compose/load';
import { toKubernetes } from '../../src/compose/kube';
import { renderProject } from '../../src/compose/render';
import { waitDependencies, type EngineApi } from '../../src/compose/project';
import { attached, oneOffBody, pull } from '../../src/cli/commands/compose';

const env: Record<string, string> = { SET: 'value', EMPTY: '' };
const look = (n: string) => env[n];

// compose-spec "Interpolation": input, expected.
const CASES: Array<[string, string]> = [
  ['$SET', 'value'],
  ['${SET}', 'value'],
  ['pre-${SET}-post', 'pre-value-post'],
  ['$$SET', '$SET'],
  ['$$', '$'],
  ['${UNSET}', ''],
  ['${UNSET:-default}', 'default'],
  ['${EMPTY:-default}', 'default'],
  ['${EMPTY-default}', ''],
  ['${UNSET-default}', 'default'],
  ['${SET:-default}', 'value'],
  ['${SET:+alt}', 'alt'],
  ['${EMPTY:+alt}', ''],
  ['${EMPTY+alt}', 'alt'],
  ['${UNSET+alt}', ''],
  ['${UNSET:-${SET}}', 'value'],
  ['${UNSET:-${ALSO_UNSET:-deep}}', 'deep'],
  ['a $ b', 'a $ b'],
  ['100%', '100%'],
];

test('interpolation follows compose-spec', () => {
  for (const [input, want] of CASES) assert.equal(interpolate(input, look, 'x'), want, input);
});

test('required variables and malformed references are errors naming the place', () => {
  assert.throws(() => interpolate('${UNSET:?needs a value}', look, 'services.web.image'), /services\.web\.image: required variable UNSET is missing a value: needs a value/);
  assert.throws(() => interpolate('${EMPTY:?}', look, 'w'), /required variable EMPTY/);
  assert.equal(interpolate('${EMPTY?}', look, 'w'), '');
  assert.throws(() => interpolate('${SET', look, 'w'), /missing "}"/);
  assert.throws(() => interpolate('${-x}', look, 'w'), /needs a variable name/);
  const unset: string[] = [];
  interpolate('$A ${B}', look, 'w', (n) => unset.push(n));
  assert.deepEqual(unset, ['A', 'B']);
});

test('.env files: comments, export, quotes, inline comments', () => {
  const m = parseEnvFile('# c\nexport A=1\nB="two words"\nC=\'$raw\'\nD=x # note\nE=\n', '.env');
  assert.deepEqual([...m], [['A', '1'], ['B', 'two words'], ['C', '$raw'], ['D', 'x'], ['E', '']]);
  assert.throws(() => parseEnvFile('not an assignment', '.env'), /\.env:1: expected KEY=VALUE/);
});

function project(yaml: string, extra: Record<string, string> = {}, env2: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'berth-compose-'));
  try {
    writeFileSync(join(dir, 'compose.yaml'), yaml);
    for (const [f, t] of Object.entries(extra)) writeFileSync(join(dir, f), t);
    return loadProject({ cwd: dir, env: env2 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('services normalise: command words, environment, ports, volumes, networks, depends_on, healthcheck', () => {
  const p = project(
    [
      'name: My_App',
      'services:',
      '  web:',
      '    image: busybox:${TAG:-latest}',
      '    command: sh -c "echo \'a b\'" x\\ y',
      '    environment: [A=1, FROM_SHELL, MISSING]',
      '    ports: ["8080:80", "127.0.0.1:9000-9001:90-91/udp", "443", "7000-7010:70"]',
      '    volumes: [data:/data:ro, ./src:/src, /anon]',
      '    networks: { back: { aliases: [api] } }',
      '    depends_on: { db: { condition: service_healthy } }',
      '    healthcheck: { test: curl -f http://localhost, interval: 1m30s, retries: 3 }',
      '    deploy: { replicas: 2 }',
      '  db:',
      '    image: busybox',
      'networks: { back: {} }',
      'volumes: { data: {} }',
    ].join('\n'),
    { '.env': 'TAG=1.36\n' },
    { FROM_SHELL: 'shell' },
  );
  assert.equal(p.name, 'my_app');
  const w = p.services.web;
  assert.equal(w.image, 'busybox:1.36');
  assert.deepEqual(w.command, ['sh', '-c', "echo 'a b'", 'x y']);
  assert.deepEqual(w.environment, { A: '1', FROM_SHELL: 'shell' });
  assert.deepEqual(w.ports, [
    { target: 80, published: '8080', hostIp: undefined, protocol: 'tcp' },
    { target: 90, published: '9000', hostIp: '127.0.0.1', protocol: 'udp' },
    { target: 91, published: '9001', hostIp: '127.0.0.1', protocol: 'udp' },
    { target: 443, published: undefined, hostIp: undefined, protocol: 'tcp' },
    { target: 70, published: '7000-7010', hostIp: undefined, protocol: 'tcp' },
  ]);
  assert.equal(w.volumes[0].readOnly, true);
  assert.equal(w.volumes[1].type, 'bind');
  assert.match(w.volumes[1].source!, /^\/.*\/src$/);
  assert.deepEqual(w.volumes[2], { type: 'volume', target: '/anon', readOnly: false });
  assert.deepEqual(w.networks, { back: ['api'] });
  assert.equal(p.networks.back.name, 'my_app_back');
  assert.equal(p.volumes.data.name, 'my_app_data');
  assert.deepEqual(w.dependsOn, { db: { condition: 'service_healthy', required: true } });
  assert.deepEqual(w.healthcheck, { test: ['CMD-SHELL', 'curl -f http://localhost'], interval: 90e9, timeout: undefined, startPeriod: undefined, startInterval: undefined, retries: 3 });
  assert.equal(p.services.web.scale, 2);
  assert.deepEqual(order(p.services), ['db', 'web']);
});

test('bad files give one clear error with the path', () => {
  const bad: Array<[string, RegExp]> = [
    ['services:\n  web: {}\n', /services\.web\.image: every service needs an image/],
    ['services:\n  web:\n    image: x\n    ports: ["99999"]\n', /invalid port range|invalid port/],
    ['services:\n  web:\n    image: x\n    volumes: [nope:/x]\n', /undefined volume "nope"/],
    ['services:\n  web:\n    image: x\n    networks: [nope]\n', /undefined network nope/],
    ['services:\n  web:\n    image: x\n    depends_on: [db]\n', /depends on undefined service "db"/],
    ['services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n', /dependency cycle detected: a -> b -> a/],
    ['services:\n  web:\n    image: x\n    restart: sometimes\n', /invalid restart policy/],
    ['services:\n  web:\n    image: x\n    depends_on: { db: { condition: ready } }\n  db: { image: x }\n', /must be one of service_started/],
    ['services:\n  web:\n    image: x\n    healthcheck: { interval: soon }\n', /healthcheck\.interval: invalid duration "soon"/],
    ['services:\n  web:\n    image: x\n  web:\n    image: y\n', /unique/i],
    ['services:\n  web:\n    build: ./nowhere\n', /build\.context: .*nowhere does not exist/],
    ['services: {}\n', /no service is defined/],
  ];
  for (const [yaml, re] of bad) assert.throws(() => project(yaml), re, yaml);
});

test('kube: Deployments, Services from ports and expose, claims for named volumes, probes from healthchecks', () => {
  const p = project(
    [
      'name: shop',
      'services:',
      '  db_main:',
      '    image: postgres:16',
      '    expose: ["5432"]',
      '    volumes: [pgdata:/var/lib/postgresql/data]',
      '    healthcheck: { test: pg_isready, interval: 5s, timeout: 2s, retries: 4, start_period: 500ms }',
      '  web:',
      '    image: shop/web:1',
      '    entrypoint: [/app/run]',
      '    command: [--port, "80"]',
      '    environment: { DB: db_main }',
      '    ports: ["8080:80", "127.0.0.1:8080:80"]',
      '    user: "1000:1000"',
      '    depends_on: [db_main]',
      '    volumes: [./conf:/conf:ro]',
      'volumes: { pgdata: {} }',
    ].join('\n'),
  );
  const { objects, warnings } = toKubernetes(p);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- walking free-form manifests
  const byKind = (kind: string) => objects.filter((o) => o.kind === kind) as Array<Record<string, any>>;
  assert.deepEqual(byKind('Deployment').map((d) => d.metadata.name), ['db-main', 'web']);
  assert.deepEqual(byKind('Service').map((s) => [s.metadata.name, s.spec.ports]), [
    ['db-main', [{ name: '5432-tcp', port: 5432, targetPort: 5432, protocol: 'TCP' }]],
    ['web', [{ name: '8080-tcp', port: 8080, targetPort: 80, protocol: 'TCP' }]],
  ]);
  assert.deepEqual(byKind('PersistentVolumeClaim').map((c) => [c.metadata.name, c.spec.resources.requests.storage]), [['pgdata', '100Mi']]);
  const db = byKind('Deployment')[0].spec.template.spec;
  assert.deepEqual(db.containers[0].livenessProbe, { exec: { command: ['/bin/sh', '-c', 'pg_isready'] }, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 4, initialDelaySeconds: 1 });
  assert.deepEqual(db.volumes, [{ name: 'db-main-vol-0', persistentVolumeClaim: { claimName: 'pgdata' } }]);
  const web = byKind('Deployment')[1];
  assert.deepEqual(web.spec.selector.matchLabels, { 'app.kubernetes.io/name': 'web', 'app.kubernetes.io/instance': 'shop' });
  assert.equal(web.spec.template.metadata.labels['app.kubernetes.io/name'], 'web', 'the pods carry what the selector selects');
  const c = web.spec.template.spec.containers[0];
  assert.deepEqual([c.command, c.args, c.env, c.securityContext], [['/app/run'], ['--port', '80'], [{ name: 'DB', value: 'db_main' }], { runAsUser: 1000, runAsGroup: 1000 }]);
  assert.ok(warnings.some((w) => /depends_on has no Kubernetes equivalent/.test(w)));
  assert.ok(warnings.some((w) => /hostPath/.test(w)));
  for (const o of objects) assert.match((o.metadata as { name: string }).name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
});

test('profiles: a service with profiles runs only when one is active or it is named', () => {
  const yaml = 'services:\n  app: { image: x }\n  debug: { image: x, profiles: [tools] }\n  seed: { image: x, profiles: [tools, init] }\n';
  const dir = mkdtempSync(join(tmpdir(), 'berth-compose-'));
  try {
    writeFileSync(join(dir, 'compose.yaml'), yaml);
    const names = (o: { profiles?: string[]; services?: string[]; env?: NodeJS.ProcessEnv }) => Object.keys(loadProject({ cwd: dir, env: o.env ?? {}, ...o }).services).sort();
    assert.deepEqual(names({}), ['app']);
    assert.deepEqual(names({ profiles: ['init'] }), ['app', 'seed']);
    assert.deepEqual(names({ env: { COMPOSE_PROFILES: 'tools' } }), ['app', 'debug', 'seed']);
    assert.deepEqual(names({ services: ['debug'] }), ['app', 'debug']);
    assert.deepEqual(loadProject({ cwd: dir, env: {} }).disabled, ['debug', 'seed']);
    writeFileSync(join(dir, 'compose.yaml'), yaml + '  web: { image: x, depends_on: [debug] }\n');
    assert.throws(() => loadProject({ cwd: dir, env: {} }), /depends on service "debug", which is disabled by its profiles/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('file secrets and configs become read-only binds (/run/secrets/<name>, /<name>)', () => {
  const p = project(
    [
      'services:',
      '  app:',
      '    image: x',
      '    secrets: [db_password, { source: api_key, target: key.txt }]',
      '    configs: [{ source: nginx, target: /etc/nginx/nginx.conf }, plain]',
      'secrets: { db_password: { file: ./pw.txt }, api_key: { file: ./key } }',
      'configs: { nginx: { file: ./nginx.conf }, plain: { file: ./key } }',
    ].join('\n'),
    { 'pw.txt': 's3cret\n', key: 'k\n', 'nginx.conf': 'events {}\n' },
  );
  const binds = p.services.app.volumes.map((m) => [m.type, m.source!.split('/').pop(), m.target, m.readOnly]);
  assert.deepEqual(binds, [
    ['bind', 'pw.txt', '/run/secrets/db_password', true],
    ['bind', 'key', '/run/secrets/key.txt', true],
    ['bind', 'nginx.conf', '/etc/nginx/nginx.conf', true],
    ['bind', 'key', '/plain', true],
  ]);
  assert.throws(() => project('services:\n  app:\n    image: x\n    secrets: [nope]\n'), /undefined secret "nope"/);
  assert.throws(() => project('services:\n  app: { image: x }\nsecrets: { s: { environment: TOKEN } }\n'), /secrets\.s\.environment: variable TOKEN is not set/);
  assert.throws(() => project('services:\n  app: { image: x }\nsecrets: { s: { external: true } }\n'), /external secrets need Swarm/);
  // Values are written in at create: mode as octal (0440 reads as 440 in YAML 1.2), uid and gid.
  const v = project('services:\n  app:\n    image: x\n    secrets: [{ source: s, mode: 0440, uid: "7" }]\n    configs: [{ source: c, target: /etc/c.conf }]\nsecrets: { s: { environment: TOKEN } }\nconfigs: { c: { content: "a=1" } }\n', {}, { TOKEN: 'tok' });
  assert.deepEqual(v.services.app.injected, [
    { target: '/run/secrets/s', content: 'tok', mode: 0o440, uid: 7, gid: 0 },
    { target: '/etc/c.conf', content: 'a=1', mode: 0o444, uid: 0, gid: 0 },
  ]);
});

test('config renders a compose file that loads back to the same project', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-compose-'));
  try {
    writeFileSync(join(dir, 'pw'), 'x');
    writeFileSync(
      join(dir, 'compose.yaml'),
      [
        'name: round',
        'services:',
        '  web:',
        '    image: busybox',
        '    command: sh -c \'echo "$$HOME costs $$5"\'',
        '    environment: [A=1]',
        '    ports: ["127.0.0.1:8080:80/udp"]',
        '    expose: ["9000"]',
        '    volumes: [data:/d:ro, ./src:/src]',
        '    networks: { back: { aliases: [api] } }',
        '    depends_on: { db: { condition: service_healthy, required: false } }',
        '    healthcheck: { test: [CMD, "true"], interval: 1m30s, retries: 2 }',
        '    secrets: [pw]',
        '    stop_grace_period: 5s',
        '  db: { image: busybox, restart: on-failure:3, cap_drop: [ALL], user: "1:2" }',
        'networks: { back: {} }',
        'volumes: { data: { name: shared-data } }',
        'secrets: { pw: { file: ./pw } }',
      ].join('\n'),
    );
    const first = loadProject({ cwd: dir, env: {} });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const YAML = require('yaml') as typeof import('yaml');
    const rendered = YAML.stringify(renderProject(first));
    assert.match(rendered, /\$\$HOME costs \$\$5/);
    writeFileSync(join(dir, 'rendered.yaml'), rendered);
    const again = loadProject({ cwd: dir, files: ['rendered.yaml'], env: {} });
    assert.deepEqual(again.services, first.services);
    assert.deepEqual(again.volumes, first.volumes);
    assert.deepEqual(again.networks, first.networks);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the compose-spec schema rejects what docker compose rejects, naming the place', () => {
  const bad: Array<[string, RegExp]> = [
    ['services:\n  web:\n    image: x\n    enviroment: { A: 1 }\n', /compose\.yaml: services\.web additional property "enviroment" is not allowed/],
    ['services:\n  web:\n    image: x\n    ports: [{ target: "eighty" }]\n', /services\.web\.ports\[0\]\.target must be/],
    ['services:\n  web:\n    image: x\n    tty: [1]\n', /services\.web\.tty must be (boolean|string)/],
    ['servics:\n  web: { image: x }\n', /\(top level\) additional property "servics" is not allowed/],
  ];
  for (const [yaml, re] of bad) assert.throws(() => project(yaml), re, yaml);
  // x- extensions are allowed anywhere the spec allows them.
  assert.equal(project('x-common: &c { image: x }\nservices:\n  web: *c\n').services.web.image, 'x');
});

test('.env can name the project and its profiles, and the shell overrides .env', () => {
  const p = project('services:\n  a: { image: x }\n  b: { image: x, profiles: [extra] }\n', { '.env': 'COMPOSE_PROJECT_NAME=fromdotenv\nCOMPOSE_PROFILES=extra\n' });
  assert.equal(p.name, 'fromdotenv');
  assert.deepEqual(Object.keys(p.services).sort(), ['a', 'b']);
  const shell = project('services:\n  a: { image: x }\n', { '.env': 'COMPOSE_PROJECT_NAME=fromdotenv\n' }, { COMPOSE_PROJECT_NAME: 'fromshell' });
  assert.equal(shell.name, 'fromshell');
});

test('.env files as docker compose reads them: quotes over lines, comments after quotes, one-pass escapes, ${VAR}, bare names', () => {
  const shell: Record<string, string> = { HOST: 'db', INHERIT: 'from-shell' };
  const m = parseEnvFile(
    [
      'Q="quoted" # a comment after the quote',
      "S='single' # and here",
      'ML="line one',
      'line two"',
      "RAW='$HOST \\n'",
      'ESC="a\\\\nb\\tc\\$HOST"',
      'BASE=/srv',
      'DATA=${BASE}/data',
      'URL="postgres://${HOST}:5432"',
      'KEEP=123#not-a-comment',
      'YAML: style',
      'INHERIT',
      'NOT_SET_ANYWHERE',
      'CRLF=x\r',
    ].join('\n'),
    '.env',
    (n) => shell[n],
  );
  assert.deepEqual(Object.fromEntries(m), {
    Q: 'quoted',
    S: 'single',
    ML: 'line one\nline two',
    RAW: '$HOST \\n',
    ESC: 'a\\nb\tc$HOST',
    BASE: '/srv',
    DATA: '/srv/data',
    URL: 'postgres://db:5432',
    KEEP: '123#not-a-comment',
    YAML: 'style',
    INHERIT: 'from-shell',
    CRLF: 'x',
  });
  assert.throws(() => parseEnvFile('A=1\nB="never closed\n', '.env'), /\.env:2: unterminated quoted value/);
});

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-compose-'));
  for (const [f, t] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), t);
  }
  return dir;
}

test('.env may use the shell and its own earlier lines; env_file too, and may be optional', () => {
  const dir = tree({
    'compose.yaml': 'services:\n  app:\n    image: x:${TAG}\n    env_file: [app.env, { path: missing.env, required: false }]\n    environment: { FROM_DOTENV: "${DATA}" }\n',
    '.env': 'ROOT=${HOME_DIR}/srv\nDATA=${ROOT}/data\nTAG="1.2" # pinned\n',
    'app.env': 'DSN=postgres://${DB_HOST:-db}/app\nLOG="${ROOT}/log"\n',
  });
  try {
    const p = loadProject({ cwd: dir, env: { HOME_DIR: '/home/u' } });
    assert.equal(p.services.app.image, 'x:1.2');
    assert.deepEqual(p.services.app.environment, { DSN: 'postgres://db/app', LOG: '/home/u/srv/log', FROM_DOTENV: '/home/u/srv/data' });
    writeFileSync(join(dir, 'compose.yaml'), 'services:\n  app:\n    image: x\n    env_file: [{ path: missing.env }]\n');
    assert.throws(() => loadProject({ cwd: dir, env: {} }), /env file .*missing\.env not found/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('several files merge as docker compose merges them; compose.override.yaml is loaded by default', () => {
  const base = [
    'services:',
    '  web:',
    '    image: web',
    '    command: [serve, --port, "80"]',
    '    environment: { A: "1", C: "3" }',
    '    labels: [tier=front]',
    '    ports: ["80:80"]',
    '    volumes: ["./a:/a", "./b:/b"]',
    '    depends_on: [db]',
    '    networks: [front]',
    '  db: { image: db }',
    'networks: { front: {}, back: {} }',
  ].join('\n');
  const over = [
    'services:',
    '  web:',
    '    command: [debug]',
    '    environment: [B=2, C=4]',
    '    labels: { owner: me }',
    '    ports: ["80:80", "9229:9229"]',
    '    volumes: ["./c:/b"]',
    '    depends_on: { db: { condition: service_healthy } }',
    '    networks: { back: { aliases: [api] } }',
  ].join('\n');
  const dir = tree({ 'compose.yaml': base, 'compose.override.yml': over });
  try {
    const p = loadProject({ cwd: dir, env: {} });
    assert.deepEqual(p.configFiles.map((f) => f.slice(dir.length + 1)), ['compose.yaml', 'compose.override.yml']);
    const w = p.services.web;
    assert.deepEqual(w.command, ['debug']);
    assert.deepEqual(w.environment, { A: '1', C: '4', B: '2' });
    assert.deepEqual(w.labels, { tier: 'front', owner: 'me' });
    assert.deepEqual(w.ports.map((x) => x.target), [80, 9229]);
    assert.deepEqual(w.volumes.map((m) => [m.source!.slice(dir.length + 1), m.target]), [['a', '/a'], ['c', '/b']]);
    assert.deepEqual(w.dependsOn, { db: { condition: 'service_healthy', required: true } });
    assert.deepEqual(w.networks, { front: [], back: ['api'] });
    // !reset drops what the earlier file set; !override replaces it instead of merging.
    writeFileSync(join(dir, 'compose.override.yml'), 'services:\n  web:\n    ports: !override ["8080:80"]\n    environment: !reset {}\n    depends_on: !reset []\n');
    const r = loadProject({ cwd: dir, env: {} }).services.web;
    assert.deepEqual([r.ports.map((x) => x.published), r.environment, r.dependsOn], [['8080'], {}, {}]);
    // -f files merge by the same rules.
    writeFileSync(join(dir, 'prod.yaml'), 'services:\n  web:\n    environment: [D=5]\n');
    assert.deepEqual(loadProject({ cwd: dir, env: {}, files: ['compose.yaml', 'prod.yaml'] }).services.web.environment, { A: '1', C: '3', D: '5' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the compose file is found in a parent directory, or named by COMPOSE_FILE', () => {
  const dir = tree({ 'compose.yaml': 'services:\n  a: { image: x }\n', 'sub/deeper/.keep': '', 'other.yaml': 'services:\n  b: { image: y }\n' });
  try {
    const p = loadProject({ cwd: join(dir, 'sub', 'deeper'), env: {} });
    assert.equal(p.workingDir, dir);
    assert.deepEqual(Object.keys(p.services), ['a']);
    assert.deepEqual(Object.keys(loadProject({ cwd: dir, env: { COMPOSE_FILE: 'compose.yaml:other.yaml' } }).services), ['a', 'b']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('project names normalise as docker compose does; an empty COMPOSE_PROJECT_NAME is unset', () => {
  assert.equal(project('name: _My-App\nservices:\n  a: { image: x }\n').name, 'my-app');
  assert.equal(project('name: fromfile\nservices:\n  a: { image: x }\n', { '.env': 'COMPOSE_PROJECT_NAME=\n' }).name, 'fromfile');
  // A name the user gives must be valid already: docker compose refuses rather than rewrites it.
  assert.throws(() => project('services:\n  a: { image: x }\n', {}, { COMPOSE_PROJECT_NAME: 'My_App' }), /invalid project name "My_App"/);
});

test('docker compose volume modes and ignored keys: cached/delegated accepted, unsupported settings warned about', () => {
  const p = project(
    [
      'version: "3.8"',
      'services:',
      '  a:',
      '    image: x',
      '    volumes: ["./src:/src:cached", "./out:/out:ro,delegated"]',
      '    networks: { n: { ipv4_address: 10.5.0.5 } }',
      'networks: { n: { ipam: { config: [{ subnet: 10.5.0.0/16 }] } } }',
      'volumes: { data: { driver_opts: { type: none, o: bind, device: /srv } } }',
    ].join('\n'),
  );
  assert.deepEqual(p.services.a.volumes.map((m) => [m.target, m.readOnly]), [['/src', false], ['/out', true]]);
  for (const re of [/`version` is obsolete/]) assert.ok(p.warnings.some((w) => re.test(w)), String(re));
  // Supported now: ipam, driver_opts, ipv4_address.
  assert.deepEqual(p.warnings.filter((w) => /ipam|driver_opts|ipv4_address/.test(w)), []);
  assert.equal(p.networks.n.subnet, '10.5.0.0/16');
  assert.deepEqual(p.volumes.data.options, { type: 'none', o: 'bind', device: '/srv' });
  assert.deepEqual(p.services.a.addresses, { n: '10.5.0.5' });
});

test('kube: an IPv6 extra host keeps its address', () => {
  const p = project('services:\n  a:\n    image: x\n    extra_hosts: ["v6host=::1", "v4host:10.0.0.1"]\n');
  const spec = (toKubernetes(p).objects[0] as { spec: { template: { spec: { hostAliases: unknown } } } }).spec.template.spec;
  assert.deepEqual(spec.hostAliases, [{ ip: '::1', hostnames: ['v6host'] }, { ip: '10.0.0.1', hostnames: ['v4host'] }]);
});

test('compose run: --entrypoint split as a shell would and replacing the command, -e overriding, no restart policy', () => {
  const p = project('services:\n  app:\n    image: x\n    command: npm start\n    restart: always\n    environment: { A: "1", B: "2" }\n');
  const body = oneOffBody(p, p.services.app, [], { entrypoint: 'sh -c "echo hi"', env: ['A=9', 'FROM_SHELL', 'UNSET_ONE'] }, false, { FROM_SHELL: 's' });
  assert.deepEqual(body.Entrypoint, ['sh', '-c', 'echo hi']);
  assert.equal(body.Cmd, undefined);
  assert.deepEqual(body.Env, ['A=9', 'B=2', 'FROM_SHELL=s']);
  assert.deepEqual((body.HostConfig as { RestartPolicy: unknown }).RestartPolicy, { Name: 'no', MaximumRetryCount: 0 });
  assert.deepEqual(oneOffBody(p, p.services.app, ['ls'], { entrypoint: '/bin/sh' }, false).Cmd, ['ls']);
});

test('compose up: with services named, only they are attached (a finished dependency does not abort)', () => {
  const c = (svc: string) => ({ Id: svc, Names: [`/p-${svc}-1`], Image: 'x', Command: '', Created: 0, State: 'running', Status: '', Ports: [], Labels: { 'com.docker.compose.service': svc } });
  const started = [c('migrate'), c('tests')];
  assert.deepEqual(attached(started, ['tests']).map((x) => x.Id), ['tests']);
  assert.deepEqual(attached(started, []).map((x) => x.Id), ['migrate', 'tests']);
});

test('compose run waits for its dependencies\' conditions', async () => {
  const p = project('services:\n  app:\n    image: x\n    depends_on: { db: { condition: service_healthy }, seed: { condition: service_completed_successfully } }\n  db: { image: x }\n  seed: { image: x }\n');
  const calls: string[] = [];
  let polls = 0;
  const label = (svc: string) => ({ 'com.docker.compose.project': p.name, 'com.docker.compose.service': svc });
  const api: EngineApi = {
    async json<T>(method: string, path: string): Promise<T> {
      calls.push(`${method} ${path}`);
      if (path === '/containers/json') return [{ Id: 'db1', Names: [`/${p.name}-db-1`], Labels: label('db') }, { Id: 'seed1', Names: [`/${p.name}-seed-1`], Labels: label('seed') }] as T;
      if (path === '/containers/seed1/wait') return { StatusCode: 0 } as T;
      if (path === '/containers/db1/json') return { State: { Running: true, ExitCode: 0, Health: { Status: ++polls < 2 ? 'starting' : 'healthy' } } } as T;
      throw new Error(`unexpected ${path}`);
    },
    async call() {
      return 204;
    },
  };
  await waitDependencies(api, p, p.services.app, () => undefined);
  assert.ok(calls.includes('POST /containers/seed1/wait'));
  assert.equal(polls, 2);
  const failing: EngineApi = { ...api, json: async <T>(m: string, path: string) => (path === '/containers/seed1/wait' ? ({ StatusCode: 3 } as T) : api.json<T>(m, path)) };
  polls = 5;
  await assert.rejects(waitDependencies(failing, p, p.services.app, () => undefined), /service "seed" didn't complete successfully: exit 3/);
  // An optional dependency that fails its condition only warns, as in docker compose.
  p.services.app.dependsOn.seed.required = false;
  const warned: string[] = [];
  await waitDependencies(failing, p, p.services.app, () => undefined, (m) => warned.push(m));
  assert.match(warned.join('\n'), /optional dependency "seed" is not running or is unhealthy/);
});

test('compose pull names an unknown service instead of crashing', async () => {
  const dir = tree({ 'compose.yaml': 'services:\n  a: { image: x }\n' });
  try {
    await assert.rejects(pull(['nope'], { file: [join(dir, 'compose.yaml')] }, {}), /no such service: nope/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('extends: a service of the same file or of another one, merged under the extending service, its paths kept relative to its own file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-compose-ext-'));
  try {
    mkdirSync(join(dir, 'common', 'app'), { recursive: true });
    writeFileSync(join(dir, 'common', 'app', 'Dockerfile'), 'FROM busybox\n');
    writeFileSync(join(dir, 'common', 'app.env'), 'FROM_FILE=1\n');
    writeFileSync(
      join(dir, 'common', 'base.yaml'),
      ['services:', '  root:', '    image: busybox', '    environment: { LEVEL: root, KEEP: yes }', '  app:', '    extends: root', '    build: ./app', '    env_file: app.env', '    volumes: ["./data:/data"]', '    environment: { LEVEL: app }'].join('\n'),
    );
    writeFileSync(
      join(dir, 'compose.yaml'),
      [
        'services:',
        '  web:',
        '    extends: { file: common/base.yaml, service: app }',
        '    image: web:dev',
        '    environment: [LEVEL=web]',
        '  worker:',
        '    extends: web',
        '    command: [work, hard]',
      ].join('\n'),
    );
    const p = loadProject({ cwd: dir, env: {} });
    const web = p.services.web;
    assert.deepEqual(web.environment, { LEVEL: 'web', KEEP: 'yes', FROM_FILE: '1' });
    assert.equal(web.image, 'web:dev');
    assert.equal(web.build?.context, join(dir, 'common', 'app'));
    assert.equal(web.volumes[0].source, join(dir, 'common', 'data'));
    const worker = p.services.worker;
    assert.deepEqual(worker.command, ['work', 'hard']);
    assert.equal(worker.environment.LEVEL, 'web');
    assert.ok(!p.warnings.some((w) => /extends/.test(w)), p.warnings.join('\n'));
    writeFileSync(join(dir, 'compose.yaml'), 'services:\n  a: { extends: b, image: x }\n  b: { extends: a }\n');
    assert.throws(() => loadProject({ cwd: dir, env: {} }), /circular reference/);
    writeFileSync(join(dir, 'compose.yaml'), 'services:\n  a: { extends: nope, image: x }\n');
    assert.throws(() => loadProject({ cwd: dir, env: {} }), /no service "nope"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('scale and resources: deploy.replicas and deploy.resources over scale, mem_limit, cpus and pids_limit; a fixed name cannot scale', () => {
  const p = project(
    [
      'services:',
      '  a: { image: x, scale: 3, mem_limit: 1g, cpus: 0.5, pids_limit: 100 }',
      '  b: { image: x, mem_limit: 256m, deploy: { replicas: 2, resources: { limits: { memory: 64m, cpus: "1.5" }, reservations: { memory: 32m } }, placement: {} } }',
      '  c: { image: x }',
    ].join('\n'),
  );
  assert.equal(p.services.a.scale, 3);
  assert.deepEqual(p.services.a.resources, { memory: 1024 ** 3, nanoCpus: 5e8, pidsLimit: 100 });
  assert.equal(p.services.b.scale, 2);
  assert.deepEqual(p.services.b.resources, { memory: 64 * 1024 ** 2, memoryReservation: 32 * 1024 ** 2, nanoCpus: 1.5e9 });
  assert.ok(p.warnings.some((w) => /deploy\.placement is not supported/.test(w)), p.warnings.join('\n'));
  assert.equal(p.services.c.scale, 1);
  assert.deepEqual(p.services.c.resources, {});
  assert.throws(() => project('services:\n  a: { image: x, container_name: fixed, deploy: { replicas: 2 } }\n'), /fixed container name cannot have 2 replicas/);
  const again = renderProject(p) as { services: Record<string, Record<string, unknown>> };
  assert.equal(again.services.a.scale, 3);
  assert.equal(again.services.a.cpus, 0.5);
});

test('include: the services, networks and volumes of another file join, with paths and .env of their own; clashes and self-includes are errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-compose-inc-'));
  try {
    mkdirSync(join(dir, 'db', 'image'), { recursive: true });
    writeFileSync(join(dir, 'db', '.env'), 'DB_TAG=15\n');
    writeFileSync(join(dir, 'db', 'compose.yaml'), ['services:', '  db:', '    image: postgres:${DB_TAG}', '    build: ./image', '    volumes: ["./data:/var/lib/data", "dbdata:/x"]', 'volumes:', '  dbdata: {}', 'networks:', '  back: {}'].join('\n'));
    writeFileSync(join(dir, 'compose.yaml'), ['include:', '  - db/compose.yaml', 'services:', '  app:', '    image: app', '    depends_on: [db]', '    networks: [back]'].join('\n'));
    const p = loadProject({ cwd: dir, env: {} });
    assert.deepEqual(Object.keys(p.services).sort(), ['app', 'db']);
    assert.equal(p.services.db.image, 'postgres:15');
    assert.equal(p.services.db.build?.context, join(dir, 'db', 'image'));
    assert.equal(p.services.db.volumes[0].source, join(dir, 'db', 'data'));
    assert.ok(p.volumes.dbdata && p.networks.back);
    assert.ok(!p.warnings.some((w) => /include/.test(w)), p.warnings.join('\n'));
    writeFileSync(join(dir, 'compose.yaml'), ['include: [db/compose.yaml]', 'services:', '  db: { image: other }'].join('\n'));
    assert.throws(() => loadProject({ cwd: dir, env: {} }), /services\.db is defined both here and in the included/);
    writeFileSync(join(dir, 'db', 'compose.yaml'), 'include: [compose.yaml]\nservices:\n  db: { image: x }\n');
    writeFileSync(join(dir, 'compose.yaml'), 'include: [db/compose.yaml]\nservices:\n  app: { image: app }\n');
    assert.throws(() => loadProject({ cwd: dir, env: {} }), /includes itself/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('devices: short and long syntax; a malformed one names its place', () => {
  const p = project('services:\n  a:\n    image: x\n    devices: ["/dev/fuse", "/dev/sda:/dev/xvda:r", { source: /dev/kvm, target: /dev/kvm, permissions: rwm }]\n');
  assert.deepEqual(p.services.a.host.devices, [
    { source: '/dev/fuse', target: '/dev/fuse', permissions: 'rwm' },
    { source: '/dev/sda', target: '/dev/xvda', permissions: 'r' },
    { source: '/dev/kvm', target: '/dev/kvm', permissions: 'rwm' },
  ]);
  assert.throws(() => project('services:\n  a:\n    image: x\n    devices: ["dev/fuse"]\n'), /services\.a\.devices\[0\]: "dev\/fuse" is not host-path/);
});
