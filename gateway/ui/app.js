/**
 * The dashboard's entry: sign-in, and a view per `#/…` address. The page is plain ES modules
 * served as they are (no build step, no framework): a handful of views that redraw from JSON
 * every few seconds need neither, and what the browser runs is what biome checks and the
 * repository holds. Only uPlot, for the plots, comes from outside this folder.
 */
import { ApiError, session, whenRefused } from './api.js';
import { asyncView, callView } from './async-view.js';
import { el, replace } from './dom.js';
import { functionView } from './function-view.js';
import { functionsView } from './functions-view.js';
import { logsView } from './logs-view.js';

const $ = (id) => document.getElementById(id);

/** `#/functions/ns/name` → a view and its parameters. */
const ROUTES = [
  [/^#\/functions\/([^/]+)\/([^/]+)$/, functionView],
  [/^#\/async\/([^/]+)$/, callView],
  [/^#\/async$/, asyncView],
  [/^#\/logs(?:\/([^/]+)\/([^/]+))?$/, logsView],
  [/^#\/functions$/, functionsView],
];

let cleanup = () => {};
/** Counts routings: a view that finishes drawing after the page has moved on is stopped at once. */
let generation = 0;

function showStatus(error) {
  $('status').textContent = error === undefined ? '' : error instanceof Error ? error.message : String(error);
}

async function route() {
  const mine = ++generation;
  cleanup();
  cleanup = () => {};
  showStatus();
  replace($('view'));
  if (session.key() === null) return;
  // A container of its own: a view still loading when the page moves on draws into a detached one.
  const view = el('div');
  $('view').append(view);
  const hash = location.hash === '' ? '#/functions' : location.hash;
  for (const [pattern, render] of ROUTES) {
    const match = pattern.exec(hash);
    if (match === null) continue;
    const params = match.slice(1).map((p) => (p === undefined ? undefined : decodeURIComponent(p)));
    for (const a of document.querySelectorAll('#nav a'))
      a.classList.toggle('current', hash.startsWith(a.getAttribute('href')));
    try {
      const stop = (await render(view, params, showStatus)) ?? (() => {});
      if (mine === generation) cleanup = stop;
      else stop();
    } catch (err) {
      if (mine === generation) showStatus(err);
    }
    return;
  }
  showStatus(`no such view: ${hash}`);
}

function showSignedIn(signedIn) {
  $('sign-in').hidden = signedIn;
  $('nav').hidden = !signedIn;
  if (!signedIn) {
    generation++;
    cleanup();
    cleanup = () => {};
    replace($('view'));
    $('key').focus();
  }
}

const SIGN_IN_REFUSALS = { 401: 'The gateway does not know that key.', 403: 'That key is not an admin key.' };

$('sign-in').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = $('key');
  $('sign-in-error').textContent = '';
  try {
    await session.signIn(input.value.trim());
    input.value = '';
    showSignedIn(true);
    await route();
  } catch (err) {
    $('sign-in-error').textContent =
      SIGN_IN_REFUSALS[err instanceof ApiError ? err.status : 0] ?? err.message;
  }
});

$('sign-out').addEventListener('click', () => {
  session.signOut();
  showSignedIn(false);
});

whenRefused((message) => {
  session.signOut();
  showSignedIn(false);
  $('sign-in-error').textContent = `Signed out: ${message}`;
});

window.addEventListener('hashchange', route);
showSignedIn(session.key() !== null);
route();
