import assert from 'node:assert/strict';
import { inPython } from './support/in-python.js';

/**
 * runtime-python's settings of a gateway service (ctx.state's and ctx.publish's) carry the
 * function's token: printing or logging them must never show it, and they compare and stay
 * read-only with the fields of their shared base included.
 */
describe("runtime-python's gateway service settings", function () {
  this.timeout(30_000);

  // Python: its indentation counts, so it starts at the margin.
  const checks = `
from nimbus_runtime.config import load_config
def seen(env):
    config = load_config(env)
    other = load_config({**env, 'NIMBUS_STATE_URL': 'http://elsewhere:8081'})
    try:
        config.state.token = 'x'
        writable = True
    except AttributeError:
        writable = False
    return {
        'state': repr(config.state),
        'publish': repr(config.publish),
        'whole': repr(config),
        'equal': config.state == load_config(env).state,
        'urlCounts': config.state == other.state,
        'writable': writable,
    }
`;

  it('never print the token, and tell whether one is set', () => {
    const [withTokens, withFile] = inPython(checks, 'seen(item)', [
      {
        NIMBUS_STATE_URL: 'http://gw:8081/',
        NIMBUS_STATE_TOKEN: 'state-secret-0123',
        NIMBUS_EVENTS_URL: 'https://events:8443',
        NIMBUS_EVENTS_TOKEN: 'events-secret-4567',
      },
      { NIMBUS_STATE_URL: 'http://gw:8081', NIMBUS_STATE_TOKEN_FILE: '/var/nimbus/state/token' },
    ]) as Record<string, string | boolean>[];
    assert.ok(withTokens !== undefined && withFile !== undefined);
    for (const shown of [withTokens.state, withTokens.publish, withTokens.whole]) {
      assert.equal(typeof shown, 'string');
      assert.doesNotMatch(shown as string, /secret/);
    }
    assert.equal(
      withTokens.state,
      "StateSettings(backend='service', timeout_ms=1000, max_value_bytes=65536, url='http://gw:8081', " +
        'token=<hidden>, token_file=None)',
    );
    assert.equal(
      withTokens.publish,
      "PublishSettings(backend='service', timeout_ms=2000, url='https://events:8443', token=<hidden>, " +
        'token_file=None)',
    );
    // Without a token given directly there is nothing to hide; the file's path is no secret.
    assert.match(
      withFile.state as string,
      /url='http:\/\/gw:8081', token=None, token_file='\/var\/nimbus\/state\/token'\)$/,
    );
    // Without a URL of its own, ctx.publish goes through the state service, with its token file.
    assert.match(
      withFile.publish as string,
      /url='http:\/\/gw:8081', token=None, token_file='\/var\/nimbus\/state\/token'\)$/,
    );
  });

  it("compare by every field, the base class's among them, and stay read-only", () => {
    const [seen] = inPython(checks, 'seen(item)', [
      { NIMBUS_STATE_URL: 'http://gw:8081', NIMBUS_STATE_TOKEN: 't' },
    ]) as Record<string, string | boolean>[];
    assert.equal(seen?.equal, true);
    assert.equal(seen?.urlCounts, false);
    assert.equal(seen?.writable, false);
  });
});
