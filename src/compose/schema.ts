/**
 * The compose-spec JSON Schema check, through the validator the build
 * generates (dist/compose-schema.js, see NOTICE.md). Errors read as docker
 * compose's do: the path of the offending value and what is wrong with it.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ComposeError } from './interpolate';

interface SchemaError {
  instancePath: string;
  keyword: string;
  params: { additionalProperty?: string; allowedValues?: unknown[] };
  message?: string;
}
type Validate = ((doc: unknown) => boolean) & { errors?: SchemaError[] | null };

let validator: Validate | undefined;

/** dist/compose-schema.js beside the bundle, or in the repo's dist/ for the test bundles. */
function load(): Validate {
  if (validator) return validator;
  for (let dir = __dirname; ; dir = dirname(dir)) {
    for (const p of [join(dir, 'compose-schema.js'), join(dir, 'dist', 'compose-schema.js')]) {
      if (!existsSync(p)) continue;
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const m = require(p) as Validate | { default: Validate };
      validator = typeof m === 'function' ? m : m.default;
      return validator;
    }
    if (dirname(dir) === dir) throw new ComposeError('the compose schema validator (dist/compose-schema.js) is missing: run npm run build');
  }
}

/** "/services/web/ports/0" → "services.web.ports[0]". */
function pathOf(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(part) ? `[${part}]` : `${out ? '.' : ''}${part}`;
  }
  return out || '(top level)';
}

export function validateCompose(doc: unknown, file: string): void {
  const validate = load();
  if (validate(doc)) return;
  const errors = validate.errors ?? [];
  // The deepest error says the most; oneOf/anyOf wrappers above it only say "no branch matched".
  const best = [...errors].sort((a, b) => b.instancePath.split('/').length - a.instancePath.split('/').length || Number(a.keyword === 'oneOf' || a.keyword === 'anyOf') - Number(b.keyword === 'oneOf' || b.keyword === 'anyOf'))[0];
  if (!best) throw new ComposeError(`${file}: invalid compose file`);
  const where = pathOf(best.instancePath);
  if (best.keyword === 'additionalProperties') throw new ComposeError(`${file}: ${where} additional property "${best.params.additionalProperty}" is not allowed`);
  if (best.keyword === 'enum') throw new ComposeError(`${file}: ${where} must be one of ${(best.params.allowedValues ?? []).map(String).join(', ')}`);
  throw new ComposeError(`${file}: ${where} ${best.message ?? 'is invalid'}`);
}
