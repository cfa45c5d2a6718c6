import assert from 'node:assert/strict';
import { LOCAL_VERSIONS_MESSAGE, localVersionsCondition } from '../src/versions-note.js';

describe('a versioned Function in local mode', () => {
  it('carries a condition saying versions need a cluster, and runs its current spec', () => {
    const condition = localVersionsCondition({ versions: { keep: 3 } });
    assert.deepEqual(condition, {
      type: 'Versions',
      status: 'False',
      reason: 'NeedsCluster',
      message: LOCAL_VERSIONS_MESSAGE,
    });
    assert.match(LOCAL_VERSIONS_MESSAGE, /^versions need a cluster; local mode runs the current spec/);
  });

  it('adds nothing to an unversioned Function', () => {
    assert.equal(localVersionsCondition({}), undefined);
  });
});
