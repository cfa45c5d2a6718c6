import { type Reply, type SendOptions, send } from '@nimbus/testkit';

export { eventually } from '@nimbus/testkit';
export type HttpResult = Reply;
export type RequestOptions = Omit<SendOptions, 'signal'>;

/** One request to a replica on loopback, on a connection of its own. */
export function request(port: number, path: string, options: RequestOptions = {}): Promise<HttpResult> {
  return send(`http://127.0.0.1:${port}`, path, { timeoutMs: 10_000, ...options });
}

/** The value of one unlabelled metric, or of one labelled series, from /_/metrics. */
export async function metric(port: number, series: string): Promise<number | undefined> {
  const res = await request(port, '/_/metrics');
  const line = res.text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
