import assert from 'node:assert/strict';
import { KubeApiError } from '@nimbus/kube/errors';
import { Problem, problemFromKube, problemOf } from '../src/http/problems.js';

const kube = (
  code: number,
  reason: string,
  message = `${reason} happened`,
  causes = [] as KubeApiError['causes'],
) => new KubeApiError(code, reason, message, causes);

describe('problemFromKube (the API server refused or failed → what the caller hears)', () => {
  const cases: {
    name: string;
    err: KubeApiError;
    status: number;
    code: string;
    message?: RegExp;
    fields?: { field: string; message: string }[];
  }[] = [
    {
      name: '404 NotFound stays 404, with the server message',
      err: kube(404, 'NotFound', 'functions.nimbus.dev "x" not found'),
      status: 404,
      code: 'NotFound',
      message: /functions\.nimbus\.dev "x" not found/,
    },
    { name: '409 AlreadyExists', err: kube(409, 'AlreadyExists'), status: 409, code: 'AlreadyExists' },
    {
      name: '409 Conflict (a stale resourceVersion)',
      err: kube(409, 'Conflict', 'the object has been modified'),
      status: 409,
      code: 'Conflict',
      message: /has been modified/,
    },
    {
      name: '422 Invalid keeps the message and names the fields from the causes',
      err: kube(
        422,
        'Invalid',
        'Function.nimbus.dev "g" is invalid: spec.scale.min: min must not exceed max',
        [
          {
            field: 'spec.scale.min',
            message: 'Invalid value: min must not exceed max',
            reason: 'FieldValueInvalid',
          },
          { reason: 'FieldValueRequired' },
        ],
      ),
      status: 422,
      code: 'InvalidFunction',
      message: /spec\.scale\.min/,
      fields: [
        { field: 'spec.scale.min', message: 'Invalid value: min must not exceed max' },
        { field: '(document)', message: 'FieldValueRequired' },
      ],
    },
    {
      name: "403 Forbidden is the gateway's RBAC, not the caller's key: 502 saying so",
      err: kube(
        403,
        'Forbidden',
        'User "system:serviceaccount:nimbus:gateway" cannot create resource "functions"',
      ),
      status: 502,
      code: 'KubernetesForbidden',
      message: /service account lacks the permission.*cannot create resource "functions"/,
    },
    {
      name: "401 is the gateway's credentials: 502",
      err: kube(401, 'Unauthorized'),
      status: 502,
      code: 'KubernetesCredentials',
    },
    {
      name: 'code 0 (no answer) is 503, unreachable',
      err: kube(0, 'Unreachable', 'POST /apis: connect ECONNREFUSED'),
      status: 503,
      code: 'KubernetesUnavailable',
      message: /^the Kubernetes API is unreachable/,
    },
    {
      name: '500 is 503, unreachable',
      err: kube(500, 'InternalError'),
      status: 503,
      code: 'KubernetesUnavailable',
      message: /unreachable/,
    },
    { name: '503 is 503', err: kube(503, 'ServiceUnavailable'), status: 503, code: 'KubernetesUnavailable' },
    {
      name: '429 (API priority and fairness) is 503, overloaded',
      err: kube(429, 'TooManyRequests'),
      status: 503,
      code: 'KubernetesUnavailable',
      message: /overloaded/,
    },
    {
      name: '400 BadRequest is the caller’s: 400',
      err: kube(400, 'BadRequest', 'resourceVersion should not be set on objects to be created'),
      status: 400,
      code: 'MalformedRequest',
      message: /resourceVersion/,
    },
    { name: '413 is 413', err: kube(413, 'RequestEntityTooLarge'), status: 413, code: 'BodyTooLarge' },
    {
      name: 'anything else is 502, naming the code',
      err: kube(405, 'MethodNotAllowed'),
      status: 502,
      code: 'KubernetesError',
      message: /405 MethodNotAllowed/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const problem = problemFromKube(c.err);
      assert.equal(problem.status, c.status);
      assert.equal(problem.code, c.code);
      if (c.message !== undefined) assert.match(problem.message, c.message);
      assert.deepEqual(problem.fields, c.fields);
      assert.equal(problem.cause, c.err, 'the Kubernetes error is kept as the cause');
      assert.doesNotMatch(problem.message, /\n\s+at /, 'no stack');
    });
  }

  it('says when to retry an unavailable API', () => {
    assert.equal(problemFromKube(kube(0, 'Unreachable')).headers['retry-after'], '5');
  });
});

describe('problemOf', () => {
  it('passes a Problem through, maps a KubeApiError, and turns anything else into a bare 500', () => {
    const problem = new Problem(418, 'Teapot', 'short and stout');
    assert.equal(problemOf(problem), problem);
    assert.equal(problemOf(kube(409, 'AlreadyExists')).status, 409);
    const internal = problemOf(new TypeError('x is undefined'));
    assert.equal(internal.status, 500);
    assert.equal(internal.message, 'internal error');
  });
});
