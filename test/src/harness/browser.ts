import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { promisify } from 'node:util';
import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium: what the dashboard tests drive, through playwright-core (no browser download). */
export const CHROMIUM = '/usr/bin/chromium';

const run = promisify(execFile);

/**
 * Installs Debian's chromium package when it is not there (CI runs on a fresh clone on this
 * machine, as root): a minute or two once, nothing after. Call it from a `before` with a
 * timeout that covers the install.
 */
export async function ensureChromium(progress: (line: string) => void = () => {}): Promise<void> {
  try {
    await access(CHROMIUM);
    return;
  } catch {
    // Not installed: install it.
  }
  progress("installing Debian's chromium for the browser tests (first run only)…");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run('apt-get', ['update'], { env, maxBuffer: 64 * 1024 * 1024 });
  await run('apt-get', ['install', '-y', 'chromium'], {
    env,
    maxBuffer: 64 * 1024 * 1024,
  });
  await access(CHROMIUM);
}

/** Headless Chromium with no network beyond loopback: every asset must come from the gateway. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // A proxy that leads nowhere for everything but loopback: a request for an outside asset fails.
    proxy: { server: 'http://127.0.0.1:9', bypass: '127.0.0.1,localhost' },
    // The tests run as root (CI on this machine), where Chromium's sandbox refuses to start.
    args: ['--no-sandbox'],
  });
}
