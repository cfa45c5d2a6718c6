import { fileURLToPath } from 'node:url';
import { helm } from './helm.js';

/** The repository's root, from test/dist/src/harness/. */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

export const CHART_DIR = 'charts/nimbus';
export const INSTALL_BUNDLE = 'manifests/install.yaml';
export const INSTALL_NAMESPACE = 'nimbus';
export const API_KEYS_SECRET = 'nimbus-api-keys';
/** The key of the Redis password in that Secret (the chart's redis.auth falls back to it). */
export const REDIS_PASSWORD_KEY = 'redis-password';
/** The key of the state key in that Secret (the chart's state.key falls back to it). */
export const STATE_KEY_KEY = 'state-key';
/** The keys of the NATS users' passwords in that Secret (the chart's nats.auth falls back to it). */
export const NATS_PASSWORD_KEYS = ['gateway', 'controller', 'publisher'].map(
  (role) => `nats-${role}-password`,
);

const HEADER = `# Nimbus install bundle: charts/nimbus rendered by \`npm run manifests\` (helm template nimbus
# charts/nimbus --namespace ${INSTALL_NAMESPACE} --include-crds). Do not edit; a test fails when it drifts from the chart.
#
# This file contains no secrets; they come from the Secret ${API_KEYS_SECRET}, which you create:
# key api-keys, the gateway's API keys (admin:<key>,invoke:<key>, keys of 16 characters or more);
# key report-token, the token of the gateways' reports and wakes to the controller; key
# ${REDIS_PASSWORD_KEY}, the password Redis requires (letters and digits: it goes into a redis:// URL);
# keys ${NATS_PASSWORD_KEYS.slice(0, -1).join(', ')} and ${NATS_PASSWORD_KEYS.at(-1)},
# the NATS users' passwords (letters and digits, starting with a letter); and key ${STATE_KEY_KEY},
# the key function state tokens are made with (32 characters or more).
#
#   kubectl apply --server-side -f manifests/install.yaml
#   kubectl -n ${INSTALL_NAMESPACE} create secret generic ${API_KEYS_SECRET} \\
#     --from-literal=api-keys="admin:$(openssl rand -hex 16),invoke:$(openssl rand -hex 16)" \\
#     --from-literal=report-token="$(openssl rand -hex 24)" \\
#     --from-literal=${REDIS_PASSWORD_KEY}="$(openssl rand -hex 24)" \\
${NATS_PASSWORD_KEYS.map((key) => `#     --from-literal=${key}="n$(openssl rand -hex 24)"`).join(' \\\n')} \\
#     --from-literal=${STATE_KEY_KEY}="$(openssl rand -hex 24)"
#
# Redis, NATS, controller and gateway pods wait for the Secret and start once it exists. Upgrading
# an install whose Secret lacks ${REDIS_PASSWORD_KEY}, the NATS keys or ${STATE_KEY_KEY}, add them
# before applying this file:
#
#   kubectl -n ${INSTALL_NAMESPACE} patch secret ${API_KEYS_SECRET} \\
#     -p "{\\"stringData\\":{\\"${REDIS_PASSWORD_KEY}\\":\\"$(openssl rand -hex 24)\\"}}"
#   kubectl -n ${INSTALL_NAMESPACE} patch secret ${API_KEYS_SECRET} \\
#     -p "{\\"stringData\\":{\\"${STATE_KEY_KEY}\\":\\"$(openssl rand -hex 24)\\"}}"
#   kubectl -n ${INSTALL_NAMESPACE} patch secret ${API_KEYS_SECRET} -p "{\\"stringData\\":{\\
${NATS_PASSWORD_KEYS.map((key) => `#     \\"${key}\\":\\"n$(openssl rand -hex 24)\\"`).join(',\\\n')}}}"
---
apiVersion: v1
kind: Namespace
metadata:
  name: ${INSTALL_NAMESPACE}
  labels:
    app.kubernetes.io/part-of: nimbus
`;

/**
 * Renders the chart with arguments that make the output the same on every run: a fixed release
 * and namespace, and API keys from a Secret the operator makes rather than random ones.
 */
export async function renderInstallBundle(): Promise<string> {
  const rendered = await helm(
    [
      'template',
      'nimbus',
      CHART_DIR,
      '--namespace',
      INSTALL_NAMESPACE,
      '--include-crds',
      '--set',
      `gateway.apiKeys.existingSecret=${API_KEYS_SECRET}`,
    ],
    { cwd: REPO_ROOT },
  );
  if (rendered.code !== 0) throw new Error(`helm template failed (${rendered.code}): ${rendered.stderr}`);
  return `${HEADER}${rendered.stdout}`;
}
