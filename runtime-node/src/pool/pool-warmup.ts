import { request } from 'node:http';

/**
 * Work a pool replica does while it waits, so that taking on a function costs little more than
 * loading the handler: the first import() and the first HTTP exchange of a process each pay for
 * code Node loads or compiles on first use, several milliseconds apiece. Neither step ever
 * rejects: they only save time.
 */
export async function warmUp(host: string, port: number): Promise<void> {
  await warmModuleLoader();
  await warmHttpServer(host, port);
}

/**
 * Makes Node load its ES module loader and the node:fs/promises it reads files with. The module
 * imported is empty and comes from a data: URL, so nothing is read from disk and nothing runs.
 */
export async function warmModuleLoader(specifier = 'data:text/javascript,'): Promise<void> {
  try {
    await import('node:fs/promises');
    // A parameter, not a literal: esbuild would bundle a literal data: URL instead of importing it.
    await import(specifier);
  } catch {
    // The handler's import will load whatever this could not.
  }
}

/** One GET /_/health to the replica itself, through the same server code the first invocation takes. */
export function warmHttpServer(host: string, port: number): Promise<void> {
  return new Promise((resolve) => {
    const req = request({ host: reachable(host), port, path: '/_/health', agent: false }, (res) => {
      res.on('end', resolve);
      res.on('error', () => resolve());
      res.resume();
    });
    req.on('error', () => resolve());
    req.end();
  });
}

/** A listener on every interface is reached over loopback. */
function reachable(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  return host === '::' ? '::1' : host;
}
