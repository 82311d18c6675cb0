/**
 * berth kube play / down against a real engine: a pod's containers share
 * localhost and emptyDirs, init containers run first, hostPorts publish,
 * ConfigMaps and Secrets feed env and files, Deployments scale to pods,
 * `down` removes exactly what `play` made, bad YAML makes nothing, and
 * `berth compose kube` output runs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestEngine, eventually, httpGet, isRoot } from '../helpers/engine';
import { freePort } from '../helpers/net';

describe('berth kube play', { skip: isRoot() ? false : 'needs root' }, () => {
  const e = new TestEngine();
  const dir = mkdtempSync(join(tmpdir(), 'berth-kube-'));
  before(async () => {
    await e.start();
    await e.busybox();
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await e.cleanup();
  });

  function file(name: string, yaml: string): string {
    const f = join(dir, name);
    writeFileSync(f, yaml);
    return f;
  }
  const kube = (args: string[], input?: string) => e.berth(['kube', ...args], { timeoutMs: 60_000, input });
  const names = async () => (await e.berth(['ps', '-a', '--format', '{{.Names}}'])).stdout.split('\n').filter(Boolean).sort();
  const logs = async (name: string, want: RegExp) => eventually(async () => {
    const r = await e.berth(['logs', name]);
    return want.test(r.stdout) && r.stdout;
  }, 15_000);

  test('a pod: shared localhost and emptyDir, init container first, hostPort, ConfigMap and Secret as env and files', async () => {
    const port = await freePort();
    const f = file(
      'pod.yaml',
      `apiVersion: v1
kind: ConfigMap
metadata: { name: settings }
data:
  GREETING: hello
  app.conf: |
    mode=local
---
apiVersion: v1
kind: Secret
metadata: { name: creds }
data: { PASSWORD: czNjcjN0 }
stringData: { TOKEN: plain }
---
apiVersion: v1
kind: Pod
metadata: { name: app, labels: { tier: web } }
spec:
  terminationGracePeriodSeconds: 1
  volumes:
    - { name: shared, emptyDir: {} }
    - { name: conf, configMap: { name: settings, items: [{ key: app.conf, path: conf/app.conf }] } }
  initContainers:
    - name: seed
      image: busybox
      command: [sh, -c, 'echo seeded-by-init > /shared/index.html']
      volumeMounts: [{ name: shared, mountPath: /shared }]
  containers:
    - name: server
      image: busybox
      command: [httpd, -f, -p, '8080', -h, /shared]
      ports: [{ containerPort: 8080, hostPort: ${port} }]
      volumeMounts: [{ name: shared, mountPath: /shared }]
    - name: client
      image: busybox
      command: [sh, -c]
      args: ['echo "env=$GREETING/$PASSWORD/$TOKEN/$POD"; cat /etc/app/conf/app.conf; echo from-client > /shared/client.txt; until wget -qO- http://127.0.0.1:8080/index.html; do sleep 0.2; done; exec sleep 600']
      env:
        - { name: GREETING, valueFrom: { configMapKeyRef: { name: settings, key: GREETING } } }
        - { name: POD, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
      envFrom: [{ secretRef: { name: creds } }]
      volumeMounts: [{ name: conf, mountPath: /etc/app }, { name: shared, mountPath: /shared }]
`,
    );
    const r = await kube(['play', f]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Pod:\n[0-9a-f]{64}\nContainers:\n[0-9a-f]{64}\n[0-9a-f]{64}\n\n$/);
    assert.deepEqual(await names(), ['app-client', 'app-infra', 'app-server'], 'the init container ran and is gone');
    const out = await logs('app-client', /seeded-by-init/);
    assert.match(out, /env=hello\/s3cr3t\/plain\/app\n/, 'ConfigMap env, Secret data decoded, stringData, fieldRef');
    assert.match(out, /mode=local\n/, 'configMap volume item file');
    assert.match(out, /seeded-by-init/, "the server, on the client's localhost, serves the init container's file");
    // The server sees what the client wrote to the emptyDir, and the host reaches it through the hostPort.
    assert.equal((await eventually(async () => (await httpGet(port).catch(() => '')) || undefined)).trim(), 'seeded-by-init');
    const served = await e.berth(['exec', 'app-server', 'cat', '/shared/client.txt']);
    assert.equal(served.stdout.trim(), 'from-client');
    const mode = await e.berth(['inspect', '-f', '{{.HostConfig.NetworkMode}} {{.HostConfig.IpcMode}} {{index .Config.Labels "io.berth.kube.pod"}}', 'app-client']);
    assert.equal(mode.stdout.trim(), 'container:app-infra container:app-infra app');
    // Playing it again is refused; --replace takes it down and plays it anew.
    const again = await kube(['play', f]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /pod app already exists/);
    const re = await kube(['play', '--replace', f]);
    assert.equal(re.code, 0, re.stderr);
    const d = await kube(['down', f]);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /^Pods stopped:\n[0-9a-f]{64}\nPods removed:\n[0-9a-f]{64}\n$/);
    assert.deepEqual(await names(), []);
    assert.equal((await e.berth(['volume', 'ls', '-q'])).stdout.trim(), '', 'the emptyDir went with its pod');
  });

  test('a Deployment of 2 replicas makes two pods; down removes them and nothing else', async () => {
    const bystander = await e.berth(['run', '-d', '--name', 'bystander', '--label', 'io.berth.kube.pod=web-1', 'busybox', 'sleep', '600']);
    assert.equal(bystander.code, 0, bystander.stderr);
    const f = file(
      'deploy.yaml',
      `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      terminationGracePeriodSeconds: 1
      securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000 }
      volumes:
        - { name: scratch, emptyDir: { medium: Memory } }
        - { name: keys, secret: { secretName: keys, defaultMode: 0440 } }
      containers:
        - name: main
          image: busybox
          command: [sleep, '600']
          resources: { limits: { memory: 64Mi, cpu: 250m } }
          livenessProbe: { exec: { command: ['true'] }, periodSeconds: 1 }
          volumeMounts: [{ name: scratch, mountPath: /scratch }, { name: keys, mountPath: /keys, readOnly: true }]
---
apiVersion: v1
kind: Secret
metadata: { name: keys }
stringData: { id: key-material }
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: data }
spec: { accessModes: [ReadWriteOnce], resources: { requests: { storage: 1Gi } } }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: ignored }
`,
    );
    const r = await kube(['play', f]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Ingress ignored: kind Ingress is not supported/);
    assert.equal(r.stdout.match(/^Pod:$/gm)?.length, 2);
    assert.deepEqual(await names(), ['bystander', 'web-1-infra', 'web-1-main', 'web-2-infra', 'web-2-main']);
    const limits = await e.berth(['inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}', 'web-2-main']);
    assert.equal(limits.stdout.trim(), `${64 * 1024 * 1024} 250000000`);
    const inside = await e.berth(['exec', 'web-2-main', 'sh', '-c', "id -u; grep ' /scratch ' /proc/mounts | cut -d' ' -f3; cat /keys/id; echo; stat -c '%a %g' /keys/id"]);
    assert.equal(inside.stdout, '1000\ntmpfs\nkey-material\n440 2000\n', inside.stderr);
    await eventually(async () => (await e.berth(['inspect', '-f', '{{.State.Health.Status}}', 'web-1-main'])).stdout.trim() === 'healthy', 15_000);
    const d = await kube(['down', f]);
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(await names(), ['bystander'], 'a container not made by play survives, even with a look-alike label');
    await e.berth(['rm', '-f', 'bystander']);
  });

  test('a malformed document is refused with its document and field, and nothing is made', async () => {
    const bad = `apiVersion: v1
kind: ConfigMap
metadata: { name: fine }
data: { A: b }
---
apiVersion: v1
kind: Pod
metadata: { name: broken }
spec:
  containers:
    - name: first
      image: busybox
    - name: second
`;
    const r = await kube(['play', '-'], bad);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /document 2 \(Pod "broken"\): spec\.containers\[1\]\.image: is required/);
    const syntax = await kube(['play', '-'], 'kind: Pod\nmetadata: { name: x\n');
    assert.equal(syntax.code, 125);
    assert.match(syntax.stderr, /document 1: invalid YAML/);
    // An init container that fails stops the pod and leaves nothing behind.
    const init = await kube(['play', '-'], `kind: Pod
metadata: { name: failing }
spec:
  initContainers: [{ name: check, image: busybox, command: [sh, -c, 'echo not ready; exit 3'] }]
  containers: [{ name: main, image: busybox, command: [sleep, '600'] }]
`);
    assert.equal(init.code, 125);
    assert.match(init.stderr, /init container check exited with code 3:\nnot ready/);
    assert.deepEqual(await names(), []);
    assert.equal((await e.berth(['volume', 'ls', '-q'])).stdout.trim(), '');
  });

  test('the output of berth compose kube plays, and the service answers by name', async () => {
    const compose = file(
      'compose.yaml',
      `name: shop
services:
  web:
    image: busybox
    command: [sh, -c, 'echo "$$MSG" > /www/index.html; exec httpd -f -p 80 -h /www']
    environment: { MSG: from-compose }
    ports: ['80']
    stop_grace_period: 1s
    volumes: [www:/www]
volumes:
  www: {}
`,
    );
    const k = await e.berth(['compose', '-f', compose, 'kube']);
    assert.equal(k.code, 0, k.stderr);
    const r = await kube(['play', '-'], k.stdout);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Volume:\nwww\n/, 'the PersistentVolumeClaim became a volume');
    const got = await eventually(async () => {
      const w = await e.berth(['run', '--rm', '--network', 'berth-kube', 'busybox', 'wget', '-qO-', 'http://web/']);
      return w.code === 0 && w.stdout;
    }, 20_000);
    assert.equal(got.trim(), 'from-compose');
    const d = await kube(['down', '-'], k.stdout);
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(await names(), []);
    assert.equal((await e.berth(['volume', 'ls', '-q'])).stdout.trim(), 'www', 'claims stay, as with Podman');
    const force = await kube(['down', '--force', '-'], k.stdout);
    assert.match(force.stdout, /Volumes removed:\nwww/);
  });
});
