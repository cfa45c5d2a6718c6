import assert from 'node:assert/strict';
import { isLiteralInternalPath, reachesInternalRoute } from '../src/internal-path.js';

describe('reachesInternalRoute', () => {
  const internal = [
    '/_',
    '/_/',
    '/_/health',
    '/_/specialise?x=1',
    '/%5F/health',
    '/%5f/ready',
    '/%255F/health',
    '/_%2Fmetrics',
    '/_%2fmetrics',
    '/%5F%2Fmetrics',
    '//_/health',
    '///_/health',
    '/./_/health',
    '/x/../_/health',
    '/x/%2e%2e/_/health',
    '/x/%2E%2E/%5F/health',
    '/../_/health',
    '/a/b/../../_/ready',
    '/\\_/health',
    '/%5C_/health',
    '/_;x=1/health',
    '/%EF%BC%BF/health',
    '/\uff3f/health',
    '/%zz/../_/health',
  ];
  const ordinary = [
    '/',
    '',
    '/health',
    '/_x/health',
    '/x_/health',
    '/api/_/health',
    '/x/_/ready',
    '/?path=/_/health',
    '/%5Fx',
    '/a/./b/../_c',
    '/%zz',
    '/#/_/health',
  ];
  for (const path of internal) {
    it(`${JSON.stringify(path)} is internal`, () => assert.equal(reachesInternalRoute(path), true));
  }
  for (const path of ordinary) {
    it(`${JSON.stringify(path)} is not`, () => assert.equal(reachesInternalRoute(path), false));
  }
});

describe('isLiteralInternalPath', () => {
  const cases: [string, boolean][] = [
    ['/_', true],
    ['/_/health', true],
    ['/_/ready?x', true],
    ['/%5F/health', false],
    ['//_/health', false],
    ['/_x', false],
  ];
  for (const [path, expected] of cases) {
    it(`${JSON.stringify(path)} → ${expected}`, () => assert.equal(isLiteralInternalPath(path), expected));
  }
});
