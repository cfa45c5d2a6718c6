import type { DeadLetterQuery } from '@nimbus/store';
import type express from 'express';
import type { Request } from 'express';
import type { CallAdmin } from '../async/call-admin.js';
import { adminCallView, adminDeadLetterView } from '../async/call-views.js';
import { isCallId } from '../http/headers.js';
import { Problem, problems, sendProblem } from '../http/problems.js';

const single = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** `?namespace=&function=&limit=&cursor=`; the store checks the values, this only their shape. */
function deadLetterQuery(req: Request): DeadLetterQuery {
  const query: DeadLetterQuery = {};
  const namespace = single(req.query.namespace);
  const fn = single(req.query.function);
  const limit = single(req.query.limit);
  const cursor = single(req.query.cursor);
  if (namespace !== undefined) query.namespace = namespace;
  if (fn !== undefined) query.function = fn;
  if (cursor !== undefined) query.cursor = cursor;
  if (limit !== undefined) {
    if (!/^\d{1,7}$/.test(limit))
      throw new Problem(400, 'InvalidRequest', `limit must be a whole number, got "${limit.slice(0, 40)}"`);
    query.limit = Number(limit);
  }
  return query;
}

/** `?withoutCredentials=true`: redrive a dead letter the store kept without its credential headers. */
function withoutCredentials(req: Request): boolean {
  const value = single(req.query.withoutCredentials);
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  throw new Problem(
    400,
    'InvalidRequest',
    `withoutCredentials must be true or false, got "${value.slice(0, 40)}"`,
  );
}

function idParam(req: Request): string {
  const id = req.params.id as string;
  if (!isCallId(id)) throw problems.invalidCallId(id);
  return id;
}

/**
 * A dead letter's id: a call id, or a trigger event's (`event:<stream>:<seq>:<function>`,
 * `source:<namespace>/<function>/<trigger>:<event id>`), sent percent-encoded. The store checks it
 * (400 naming the rule), as it checks every id it is asked for.
 */
const letterIdParam = (req: Request): string => req.params.id as string;

/**
 * Async calls under `/system` (admin scope, checked by the system app). Callback URLs show with
 * their userinfo and query values masked, and credential headers (which the store no longer keeps)
 * masked in entries stored before it stopped (call-views.ts): an admin sees where callbacks go,
 * not the callers' secrets.
 *   GET    /system/calls/{id}                      the call record
 *   GET    /system/dead-letters                    newest first; ?namespace=&function=&limit=&cursor=
 *   GET    /system/dead-letters/{id}               one, with the request it would send again
 *   POST   /system/dead-letters/{id}/redrive       202: queued again under the same call id (a trigger
 *                                                   event's: under one derived from it, in X-Call-Id);
 *                                                   ?withoutCredentials=true for one kept without them
 *   DELETE /system/dead-letters/{id}               204
 */
export function mountCallRoutes(app: express.Express, admin: CallAdmin): void {
  app.get('/system/calls/:id', async (req, res) => {
    res.json(adminCallView(await admin.call(idParam(req))));
  });
  app.get('/system/dead-letters', async (req, res) => {
    const page = await admin.list(deadLetterQuery(req));
    res.json({ ...page, entries: page.entries.map(adminDeadLetterView) });
  });
  app.get('/system/dead-letters/:id', async (req, res) => {
    res.json(adminDeadLetterView(await admin.deadLetter(letterIdParam(req))));
  });
  app.post('/system/dead-letters/:id/redrive', async (req, res) => {
    const record = await admin.redrive(letterIdParam(req), { withoutCredentials: withoutCredentials(req) });
    res
      .status(202)
      .set('x-call-id', record.id)
      .location(`/system/calls/${record.id}`)
      .json(adminCallView(record));
  });
  app.delete('/system/dead-letters/:id', async (req, res) => {
    await admin.remove(letterIdParam(req));
    res.status(204).end();
  });
  const refuse = (allow: string) => (_req: Request, res: express.Response) =>
    sendProblem(res, problems.methodNotAllowed(`use ${allow}`, allow));
  app.all('/system/calls/:id', refuse('GET'));
  app.all('/system/dead-letters', refuse('GET'));
  app.all('/system/dead-letters/:id', refuse('GET, DELETE'));
  app.all('/system/dead-letters/:id/redrive', refuse('POST'));
}
