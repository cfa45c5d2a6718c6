import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ensureChromium, launchChromium } from './browser.js';
import type { StoredSpan } from './tracing-backend.js';

const COLOURS: Record<string, string> = {
  'nimbus-gateway': '#3b6fd8',
  'nimbus-controller': '#c2571a',
  'nimbus-function': '#2e9a5b',
};

const escapeHtml = (text: string) =>
  text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);

/** The spans in tree order (each after its parent, siblings by start), with their depth. */
function treeOrder(spans: readonly StoredSpan[]): { span: StoredSpan; depth: number }[] {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string | undefined, StoredSpan[]>();
  for (const span of spans) {
    const parent =
      span.parentSpanId !== undefined && ids.has(span.parentSpanId) ? span.parentSpanId : undefined;
    children.set(parent, [...(children.get(parent) ?? []), span]);
  }
  const out: { span: StoredSpan; depth: number }[] = [];
  const visit = (parent: string | undefined, depth: number) => {
    const below = [...(children.get(parent) ?? [])].sort((a, b) =>
      a.startUnixNano < b.startUnixNano ? -1 : 1,
    );
    for (const span of below) {
      out.push({ span, depth });
      visit(span.spanId, depth + 1);
    }
  };
  visit(undefined, 0);
  return out;
}

/** The waterfall as a page of its own: no script, no outside asset. */
function waterfallPage(spans: readonly StoredSpan[], title: string): string {
  const start = spans.reduce(
    (min, s) => (s.startUnixNano < min ? s.startUnixNano : min),
    spans[0]?.startUnixNano ?? 0n,
  );
  const endMs = Math.max(...spans.map((s) => Number(s.startUnixNano - start) / 1e6 + s.durationMs));
  const rows = treeOrder(spans).map(({ span, depth }) => {
    const offset = Number(span.startUnixNano - start) / 1e6;
    const left = (offset / endMs) * 100;
    const width = Math.max((span.durationMs / endMs) * 100, 0.3);
    const colour = COLOURS[span.service] ?? '#777';
    const failed = span.status.code === 2 ? ' failed' : '';
    return `<div class="row"><div class="name" style="padding-left:${depth * 14}px"><span class="dot" style="background:${colour}"></span>${escapeHtml(span.name)} <span class="service">${escapeHtml(span.service)}</span></div><div class="lane"><div class="bar${failed}" style="left:${left}%;width:${width}%;background:${colour}"></div><span class="ms" style="left:${Math.min(left + width, 88)}%">${span.durationMs.toFixed(1)} ms</span></div></div>`;
  });
  return `<!doctype html><html><head><meta charset="utf-8"><style>
body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222;background:#fff;width:1100px}
h1{font-size:15px;margin:0 0 10px}
.row{display:flex;align-items:center;height:24px;border-bottom:1px solid #eee}
.name{width:430px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.service{color:#888;font-size:11px}
.dot{display:inline-block;width:8px;height:8px;border-radius:4px;margin-right:6px}
.lane{position:relative;flex:1;height:100%}
.bar{position:absolute;top:6px;height:12px;border-radius:2px;opacity:.85}
.bar.failed{outline:2px solid #d22}
.ms{position:absolute;top:4px;margin-left:6px;font-size:11px;color:#555}
</style></head><body><h1>${escapeHtml(title)} — ${endMs.toFixed(1)} ms</h1>${rows.join('')}</body></html>`;
}

/**
 * Draws one trace as a waterfall (a row per span, under its parent, a bar for its time, coloured
 * by service) in headless Chromium and saves it as a PNG: a picture of a real trace, as the
 * tracing backend stored it, for the README.
 */
export async function saveTracePicture(
  spans: readonly StoredSpan[],
  file: string,
  title: string,
): Promise<void> {
  await ensureChromium();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1140, height: 200 } });
    await page.setContent(waterfallPage(spans, title));
    await mkdir(dirname(file), { recursive: true });
    await page.screenshot({ path: file, fullPage: true });
  } finally {
    await browser.close();
  }
}
