import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { CRD_FILES, functionCrdYaml } from '@nimbus/controller/manifests/crd-yaml';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

describe('generated manifests', () => {
  for (const file of CRD_FILES) {
    it(`${file} matches the schema (run \`npm run manifests\` after changing it)`, async () => {
      assert.equal(await readFile(`${ROOT}${file}`, 'utf8'), functionCrdYaml());
    });
  }
});
