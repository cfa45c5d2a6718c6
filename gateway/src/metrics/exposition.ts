import { Registry } from 'prom-client';

/** A scrape's answer: the body in the format the scraper asked for, and its content type. */
export interface Exposition {
  contentType: string;
  body: string;
}

/** A registered metric as prom-client's code has it (its type declarations say `type` is a number). */
interface Family {
  readonly type: string;
  get(): Promise<{ name: string }>;
}

/**
 * prom-client renders one family in its registry's format. The method, and the registry's
 * content-type argument, are public in its code (the registry's own `metrics()` is built on
 * them) but missing from its type declarations.
 */
interface FamilyRenderer {
  getMetricsAsString(family: Family): Promise<string>;
}
const OpenMetricsRenderer = Registry as unknown as new (contentType: string) => FamilyRenderer;

/**
 * True when the scraper's Accept lists OpenMetrics with a weight above zero. Prometheus asks
 * for it first when it negotiates; anything else (curl, a browser) gets the classic text.
 */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  return accept.split(',').some((range) => {
    const [type = '', ...params] = range.split(';').map((p) => p.trim().toLowerCase());
    if (type !== 'application/openmetrics-text') return false;
    const q = params.find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/**
 * The registry's metrics in the format the Accept header asks for. Only OpenMetrics carries
 * exemplars (the trace ids on the invoke histogram). The registry itself stays classic: prom-client's
 * own OpenMetrics output renames counters on the shared metric objects (it strips `_total`), which
 * would break every classic scrape after it, so OpenMetrics is rendered here family by family,
 * each counter through a view with the stripped name.
 */
export async function expose(registry: Registry, accept: string | undefined): Promise<Exposition> {
  if (!wantsOpenMetrics(accept)) return { contentType: registry.contentType, body: await registry.metrics() };
  const renderer = new OpenMetricsRenderer(Registry.OPENMETRICS_CONTENT_TYPE);
  const families = await Promise.all(
    (registry.getMetricsAsArray() as unknown as Family[]).map((metric) =>
      renderer.getMetricsAsString(openMetricsView(metric)),
    ),
  );
  return { contentType: Registry.OPENMETRICS_CONTENT_TYPE, body: `${families.join('\n')}\n# EOF\n` };
}

/** OpenMetrics names a counter's family without `_total` and its sample with it. */
function openMetricsView(metric: Family): Family {
  if (metric.type !== 'counter') return metric;
  return {
    type: metric.type,
    get: async () => {
      const family = await metric.get();
      return { ...family, name: family.name.replace(/_total$/, '') };
    },
  };
}
