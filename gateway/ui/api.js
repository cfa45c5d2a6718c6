/**
 * The admin key and the calls made with it. The key lives in sessionStorage, at most: it goes
 * with the tab, it is never in a URL (so in no log, history or Referer), never in localStorage
 * (it would outlive the session), and never in a cookie, so the browser sends it nowhere on its
 * own: a page elsewhere cannot make this one redrive or delete (no CSRF). Each fetch carries it
 * as `Authorization: Bearer`, and the JSON endpoints check the admin scope as for any client.
 */

const KEY = 'nimbus.adminKey';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const session = {
  key: () => sessionStorage.getItem(KEY),
  /** Keeps the key if the gateway takes it as an admin key; throws ApiError if not. */
  async signIn(key) {
    await request('/system/info', {}, key);
    sessionStorage.setItem(KEY, key);
  },
  signOut() {
    sessionStorage.removeItem(KEY);
  },
};

/** Listeners told when the gateway refuses the key (it was revoked): the page goes back to sign-in. */
const onRefused = new Set();
export function whenRefused(fn) {
  onRefused.add(fn);
}

async function request(path, init = {}, key = session.key()) {
  const headers = new Headers(init.headers);
  if (key !== null) headers.set('authorization', `Bearer ${key}`);
  const response = await fetch(path, { ...init, headers, credentials: 'omit', cache: 'no-store' });
  if (response.ok) return response;
  let message = `${response.status} ${response.statusText}`;
  try {
    const problem = await response.json();
    if (typeof problem.error === 'string') message = problem.error;
  } catch {
    // Not a problem body: the status says enough.
  }
  if ((response.status === 401 || response.status === 403) && key === session.key())
    for (const fn of onRefused) fn(message);
  throw new ApiError(response.status, message);
}

/** GET (or `init.method`) a JSON endpoint; undefined for 204. */
export async function api(path, init = {}) {
  const response = await request(path, init);
  return response.status === 204 ? undefined : response.json();
}

/** A streaming GET: the response, whose body the caller reads. */
export function stream(path, signal) {
  return request(path, { signal });
}

/** `?name=value&…` of the defined entries, encoded. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params))
    if (value !== undefined && value !== '') search.set(name, value);
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}
