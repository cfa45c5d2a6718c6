#!/usr/bin/env node
// `npm run manifests`: writes the generated manifests where kubectl and Helm read them: the
// Function CRD, the NATS users' permissions the chart renders into the bundled server's config,
// then the install bundle rendered from the chart (which includes both). Tests fail when the
// committed files differ from what this writes.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NATS_PERMISSIONS_FILE, chartNatsPermissionsJson } from '@nimbus/bus/nats-permissions';
import { CRD_FILES, functionCrdYaml } from '@nimbus/controller/manifests/crd-yaml';
import { INSTALL_BUNDLE, renderInstallBundle } from '@nimbus/test/harness/install-bundle';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const text = functionCrdYaml();
for (const file of CRD_FILES) {
  writeFileSync(join(root, file), text);
  console.log(`wrote ${file}`);
}
writeFileSync(join(root, NATS_PERMISSIONS_FILE), chartNatsPermissionsJson());
console.log(`wrote ${NATS_PERMISSIONS_FILE}`);
writeFileSync(join(root, INSTALL_BUNDLE), await renderInstallBundle());
console.log(`wrote ${INSTALL_BUNDLE}`);
