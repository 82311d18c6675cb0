/** Ajv validator for the OCI runtime-spec config schema from ../shared (fails, never skips, when absent). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import assert from 'node:assert/strict';
import Ajv from 'ajv-draft-04';
import addFormats from 'ajv-formats';
import type { ValidateFunction } from 'ajv';
import { REPO } from './engine';

const sharedDir = process.env.BERTH_SHARED_DIR ?? path.resolve(REPO, '../shared');
export const schemaDir = path.join(sharedDir, 'specs', 'oci-runtime-spec');

let validator: ValidateFunction | undefined;
export function schemaValidator(): ValidateFunction {
  if (validator) return validator;
  // Fail, never skip: without the schemas these tests would prove nothing.
  assert.ok(
    fs.existsSync(path.join(schemaDir, 'config-schema.json')),
    `OCI runtime-spec schemas not found in ${schemaDir}; set BERTH_SHARED_DIR to the shared/ reference folder`,
  );
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  const base = 'https://opencontainers.org/schema/runtime/';
  for (const name of fs.readdirSync(schemaDir)) {
    if (!name.endsWith('.json')) continue;
    ajv.addSchema(JSON.parse(fs.readFileSync(path.join(schemaDir, name), 'utf8')), base + name);
  }
  const v = ajv.getSchema(base + 'config-schema.json');
  assert.ok(v, 'config-schema.json did not compile');
  validator = v;
  return v;
}

/** Asserts that a parsed config.json document matches the schema. */
export function assertValidConfig(doc: unknown): void {
  const v = schemaValidator();
  assert.ok(v(doc), `config.json does not match config-schema.json: ${JSON.stringify(v.errors, null, 1)}`);
}
