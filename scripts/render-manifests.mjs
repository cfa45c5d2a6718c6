#!/usr/bin/env node
// `npm run manifests`: writes the generated manifests (the Function CRD) where kubectl and Helm
// read them. A test fails when the committed files differ from what this writes.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CRD_FILES, functionCrdYaml } from '@nimbus/controller/manifests/crd-yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const text = functionCrdYaml();
for (const file of CRD_FILES) {
  writeFileSync(join(root, file), text);
  console.log(`wrote ${file}`);
}
