/**
 * The OpenFaaS gateway API's shapes as faas-cli reads and sends them (faas-provider's types),
 * written out here from its published description and faas-cli's requests. Only what Nimbus
 * reads or writes is here.
 */

export interface FunctionResources {
  memory?: string;
  cpu?: string;
}

/** One entry of `GET /system/functions`, and the answer of `GET /system/function/{name}`. */
export interface FunctionStatus {
  name: string;
  image: string;
  namespace: string;
  /** OpenFaaS's fprocess: what the watchdog runs. */
  envProcess?: string;
  envVars?: Record<string, string>;
  secrets?: string[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  limits?: FunctionResources;
  requests?: FunctionResources;
  readOnlyRootFilesystem: boolean;
  /** Calls through this gateway since it started; faas-cli truncates it to a whole number. */
  invocationCount: number;
  /** Non-negative whole numbers: faas-cli decodes them as uint64 and fails the whole list otherwise. */
  replicas: number;
  availableReplicas: number;
  /** RFC 3339, or absent: faas-cli fails the whole list on "" or any other format. */
  createdAt?: string;
}

/** The body of `POST`/`PUT /system/functions` (faas-cli deploy, up). */
export interface FunctionDeployment {
  service: string;
  image: string;
  namespace?: string;
  envProcess?: string;
  envVars?: Record<string, string>;
  constraints?: string[];
  secrets?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  limits?: FunctionResources;
  requests?: FunctionResources;
  readOnlyRootFilesystem?: boolean;
}

/** `GET /system/info`. faas-cli version dereferences provider, provider.version and version: never null. */
export interface GatewayInfo {
  provider: { provider: string; orchestration: string; version: { sha: string; release: string } };
  version: { sha: string; release: string };
  arch: string;
}
