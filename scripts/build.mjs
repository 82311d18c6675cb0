// Bundles the CLI, the daemon and every test file with esbuild (tsc only type-checks).
import { build } from 'esbuild';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: 'linked',
  logLevel: 'warning',
  // koffi ships a native addon; dockerode is test-only and heavy. The S3 SDK
  // (megabytes) is required lazily by the registry's s3 driver only, s3rver is
  // test-only, yaml is loaded by `registry serve --config` only.
  external: ['koffi', 'dockerode', 'ajv', 'ajv-draft-04', 'ajv-formats', '@aws-sdk/client-s3', 's3rver', 'yaml'],
};

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}



/**
 * The compose-spec validator: ajv's standalone code for src/compose/compose-spec.json, bundled
 * on its own as dist/compose-schema.js (compiling the schema at run time costs ~200 ms a command).
 */
async function composeSchema() {
  const require = createRequire(import.meta.url);
  const Ajv = require('ajv').default;
  const standalone = require('ajv/dist/standalone').default;
  const schema = JSON.parse(readFileSync(join(root, 'src/compose/compose-spec.json'), 'utf8'));
  // ajv rejects the schema's "https://json-schema.org/draft-07/schema" key; draft-07 is its default anyway.
  delete schema.$schema;
  const ajv = new Ajv({ code: { source: true }, strict: false, allErrors: true });
  const code = standalone(ajv, ajv.compile(schema));
  mkdirSync(join(root, 'dist'), { recursive: true });
  const tmp = join(root, 'dist', '.compose-schema.gen.js');
  writeFileSync(tmp, code);
  try {
    await build({ ...common, external: [], sourcemap: false, minify: true, entryPoints: { 'compose-schema': tmp }, outdir: join(root, 'dist') });
  } finally {
    rmSync(tmp, { force: true });
  }
}

// The CLI's V8 code cache (see bin/berth) belongs to the old bundle.
rmSync(join(root, 'dist', 'berth.js.cache'), { force: true });
await Promise.all([
  composeSchema(),
  build({ ...common, entryPoints: { berth: join(root, 'src/cli/main.ts') }, outdir: join(root, 'dist'), minify: true }),
  build({ ...common, entryPoints: { berthd: join(root, 'src/daemon/main.ts') }, outdir: join(root, 'dist') }),
  // `berth registry serve|gc` load this beside the CLI; the CLI bundle stays small.
  build({ ...common, entryPoints: { 'registry-server': join(root, 'src/registry/server/index.ts') }, outdir: join(root, 'dist') }),
  build({ ...common, entryPoints: { 'compose-cli': join(root, 'src/cli/commands/compose.ts') }, outdir: join(root, 'dist'), minify: true }),
  build({ ...common, entryPoints: { 'kube-cli': join(root, 'src/cli/commands/kube.ts') }, outdir: join(root, 'dist'), minify: true }),
  build({
    ...common,
    entryPoints: walk(join(root, 'test')),
    outdir: join(root, 'dist-test'),
    outbase: join(root, 'test'),
  }),
]);
// A fresh, eager code cache for the new CLI bundle, made by a plain `node` as bin/berth runs.
const cache = spawnSync(process.execPath, [join(root, 'scripts', 'code-cache.cjs'), join(root, 'dist', 'berth.js')], { stdio: 'inherit' });
if (cache.status !== 0) process.stderr.write('build: could not write the CLI code cache; bin/berth will make it on first use\n');
