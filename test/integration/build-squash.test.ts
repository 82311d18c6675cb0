/** `berth build --squash` and POST /build?squash=1 (docker build --squash) against a real berthd. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { readTar } from '../../src/image/tar/reader';
import { TestEngine, isRoot, writeTree } from '../helpers/engine';

interface HistoryRow {
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

describe('build --squash', { skip: isRoot() ? false : 'needs root' }, () => {
  // Experimental on: the docker CLI sends --squash only to a daemon that says so.
  const e = new TestEngine({ BERTH_EXPERIMENTAL: '1' });
  let n = 0;
  const context = (files: Record<string, string>): string => writeTree(join(e.dir, `ctx${++n}`), files);
  const berth = async (args: string[]) => {
    const r = await e.berth(args);
    return { ...r, all: r.stdout + r.stderr };
  };
  const inspect = async (ref: string, format: string) => (await e.berth(['image', 'inspect', '-f', format, ref])).stdout.trim();
  const layersOf = async (ref: string): Promise<string[]> => JSON.parse(await inspect(ref, '{{json .RootFS.Layers}}')) as string[];
  const historyOf = async (ref: string): Promise<HistoryRow[]> => {
    const id = (await inspect(ref, '{{.Id}}')).replace('sha256:', '');
    const chunks: Buffer[] = [];
    for await (const c of createReadStream(join(e.root, 'image', 'blobs', 'sha256', id))) chunks.push(c as Buffer);
    return (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { history: HistoryRow[] }).history;
  };
  /** name → "type mode uid:gid [-> link]" of a layer blob in the store. */
  const listLayer = async (diffId: string): Promise<Map<string, string>> => {
    const out = new Map<string, string>();
    for await (const { header: h } of readTar(createReadStream(join(e.root, 'image', 'blobs', 'sha256', diffId.replace('sha256:', ''))))) {
      const link = h.linkname.length ? ` -> ${h.linkname.toString()}` : '';
      out.set(h.name.toString().replace(/\/$/, ''), `${h.type} ${h.mode.toString(8)} ${h.uid}:${h.gid}${link}`);
    }
    return out;
  };
  const stepLines = (s: string) => s.split('\n').filter((l) => /^\[\d+\/\d+\]/.test(l));

  before(async () => {
    await e.start();
    await e.busybox();
    const base = context({ Dockerfile: 'FROM busybox\nRUN echo b > /base-file && mkdir -p /opq/keep && echo o > /opq/old && echo k > /opq/keep/k\n' });
    const r = await berth(['build', '-t', 'sqbase', base]);
    assert.equal(r.code, 0, r.all);
  });
  after(() => e.cleanup());

  const squashDockerfile = [
    'FROM sqbase',
    'RUN echo tmp > /scratch.txt && mkdir -p /d/sub && echo s > /d/sub/s && echo x > /d/x && ln /d/x /d/xlink && ln -s x /d/sym && chown 1:1 /d/x && chmod 640 /d/x',
    'RUN rm /scratch.txt /base-file && rm -rf /d/sub /opq && mkdir /opq && echo new > /opq/new && echo y > /d/y',
    'ENV A=1',
    'COPY f.txt /d/f.txt',
    '',
  ].join('\n');

  test('the final layers become one: deleted files vanish, base deletions stay whiteouts, rebuild is cached and identical', async () => {
    const dir = context({ 'Dockerfile': squashDockerfile, 'f.txt': 'from context\n' });
    const baseLayers = await layersOf('sqbase');
    const r = await berth(['build', '--squash', '-t', 'sq:1', dir]);
    assert.equal(r.code, 0, r.all);
    const layers = await layersOf('sq:1');
    assert.equal(layers.length, baseLayers.length + 1);
    assert.deepEqual(layers.slice(0, -1), baseLayers);

    const top = await listLayer(layers[layers.length - 1]);
    // Made by one RUN and deleted by the next: neither the file nor a whiteout for it.
    assert.ok(![...top.keys()].some((k) => /scratch\.txt|d\/sub/.test(k)), [...top.keys()].join('\n'));
    // A base file deleted during the build: the whiteout must stay.
    assert.ok(top.has('.wh.base-file'), [...top.keys()].join('\n'));
    // A base dir removed and made again: opaque, with only the new content.
    assert.ok(top.has('opq/.wh..wh..opq'), [...top.keys()].join('\n'));
    assert.ok(top.has('opq/new') && !top.has('opq/old') && !top.has('opq/.wh.old'));
    assert.equal(top.get('d/x'), 'file 640 1:1');
    assert.equal(top.get('d/xlink'), 'hardlink 640 1:1 -> d/x');
    assert.equal(top.get('d/sym'), 'symlink 777 0:0 -> x');
    assert.ok(top.has('d/y') && top.has('d/f.txt'));

    const run = await e.berth(['run', '--rm', 'sq:1', 'sh', '-c', 'ls /opq; cat /d/xlink /d/f.txt; test -e /base-file && echo base-file-back; test -e /scratch.txt && echo scratch-back; echo A=$A']);
    assert.equal(run.stdout, 'new\nx\nfrom context\nA=1\n', run.stderr);

    // Docker's shape: every entry after the base's marked empty_layer, then one entry for the merged layer.
    const baseHist = await historyOf('sqbase');
    const hist = await historyOf('sq:1');
    assert.equal(hist.length, baseHist.length + 5);
    assert.deepEqual(hist.slice(0, baseHist.length), baseHist);
    for (const h of hist.slice(baseHist.length, -1)) assert.equal(h.empty_layer, true, JSON.stringify(h));
    const last = hist[hist.length - 1];
    assert.equal(last.created_by, undefined);
    assert.equal(last.empty_layer, undefined);
    assert.match(last.comment ?? '', new RegExp(`^merge sha256:[a-f0-9]{64} to ${await inspect('sqbase', '{{.Id}}')}$`));
    const shown = await e.berth(['history', '--format', '{{.CreatedBy}}|{{.Comment}}', 'sq:1']);
    assert.match(shown.stdout.split('\n')[0], /^\|merge sha256:/, shown.stdout);

    const again = await berth(['build', '--squash', '-t', 'sq:2', dir]);
    assert.equal(again.code, 0, again.all);
    const steps = stepLines(again.stderr).slice(1);
    assert.equal(steps.length, 4, again.stderr);
    for (const l of steps) assert.match(l, /CACHED$/, again.stderr);
    assert.equal(await inspect('sq:2', '{{.Id}}'), await inspect('sq:1', '{{.Id}}'));
    // Made again from scratch (no cached step, no cached merge): the same bytes.
    const fresh = await berth(['build', '--squash', '--no-cache', '-t', 'sq:3', dir]);
    assert.equal(fresh.code, 0, fresh.all);
    assert.equal(await inspect('sq:3', '{{.Id}}'), await inspect('sq:1', '{{.Id}}'));

    // Without --squash the same context gives the usual layers, from the same cache.
    const plain = await berth(['build', '-t', 'sq:plain', dir]);
    assert.equal(plain.code, 0, plain.all);
    assert.equal((await layersOf('sq:plain')).length, baseLayers.length + 3);
  });

  test('multi-stage squashes the final stage only; FROM scratch gives one layer; no new layers leaves the image as is', async () => {
    const dir = context({
      'Dockerfile': ['FROM busybox AS one', 'RUN echo 1 > /one', 'FROM one', 'RUN echo 2 > /two', 'RUN echo 3 > /three', ''].join('\n'),
    });
    const r = await berth(['build', '--squash', '-t', 'sqms', dir]);
    assert.equal(r.code, 0, r.all);
    const bb = await layersOf('busybox');
    const layers = await layersOf('sqms');
    // busybox + stage one's RUN + the merged layer of the final stage.
    assert.equal(layers.length, bb.length + 2);
    const top = await listLayer(layers[layers.length - 1]);
    assert.deepEqual([...top.keys()].sort(), ['three', 'two']);
    const hist = await historyOf('sqms');
    assert.equal(hist.filter((h) => !h.empty_layer).length, layers.length);

    const scratch = context({ 'Dockerfile': 'FROM scratch\nCOPY a b /\nCOPY c /\n', 'a': 'a', 'b': 'b', 'c': 'c' });
    const s = await berth(['build', '--squash', '-t', 'sqscratch', scratch]);
    assert.equal(s.code, 0, s.all);
    const sl = await layersOf('sqscratch');
    assert.equal(sl.length, 1);
    assert.deepEqual([...(await listLayer(sl[0])).keys()].sort(), ['a', 'b', 'c']);
    const sh = await historyOf('sqscratch');
    assert.match(sh[sh.length - 1].comment ?? '', /^create new from sha256:[a-f0-9]{64}$/);

    const meta = context({ Dockerfile: 'FROM busybox\nENV X=1\nLABEL a=b\n' });
    const plain = await berth(['build', '-q', '-t', 'sqmeta:plain', meta]);
    const squashed = await berth(['build', '-q', '--squash', '-t', 'sqmeta:squashed', meta]);
    assert.equal(squashed.code, 0, squashed.all);
    assert.equal(squashed.stdout, plain.stdout);
  });

  test('DOCKER_BUILDKIT=0 docker build --squash through the socket gives the same image', async () => {
    const dir = context({ 'Dockerfile': squashDockerfile, 'f.txt': 'from context\n' });
    const ours = await berth(['build', '-q', '--squash', dir]);
    assert.equal(ours.code, 0, ours.all);
    process.env.DOCKER_BUILDKIT = '0';
    try {
      const r = await e.docker(['build', '--squash', '-t', 'dk/sq', dir]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /Using cache/);
    } finally {
      delete process.env.DOCKER_BUILDKIT;
    }
    assert.equal(await inspect('dk/sq', '{{.Id}}'), ours.stdout.trim());
    const info = await e.docker(['version', '--format', '{{.Server.Experimental}}']);
    assert.equal(info.stdout.trim(), 'true', info.stderr);
  });
});
