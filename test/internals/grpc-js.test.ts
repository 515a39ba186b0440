/**
 * The grpc-js internals the library relies on, checked against the installed grpc-js:
 * a grpc-js upgrade that changes them fails here, not in production.
 */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it, vi } from 'vitest';
import { checkGrpcJsShapes, installGrpcJsFixes, installInto } from '../../lib/internals/grpc-js';

const PATCHED = Symbol.for('etcd3-resilient.orphan-subchannel-fix');

describe('grpc-js internals', () => {
  it('every channel createGrpcClient makes gets the fix', async () => {
    const { createGrpcClient } = await import('../../lib/grpc/create-client');
    const Echo = grpc.makeGenericClientConstructor({}, 'Empty');
    const { Subchannel: Before } = require('@grpc/grpc-js/build/src/subchannel');
    expect(Before.prototype[PATCHED]).toBeUndefined(); // nothing installed at import
    const c = createGrpcClient(Echo, '127.0.0.1:1');
    await c.close();
    const { Subchannel } = require('@grpc/grpc-js/build/src/subchannel');
    expect(Subchannel.prototype[PATCHED]).toBe(true);
  });

  it('every shape the fixes rely on is as expected in the installed grpc-js', () => {
    expect(checkGrpcJsShapes()).toEqual([]);
    // TLS credentials have the connector too (the probe handshakes as a channel would).
    expect(checkGrpcJsShapes(undefined, grpc.credentials.createSsl())).toEqual([]);
    expect(checkGrpcJsShapes(undefined, {})).toEqual([
      'ChannelCredentials.prototype._createSecureConnector',
    ]);
  });

  it('installs the orphaned-subchannel fix into grpc-js, idempotently', () => {
    expect(installGrpcJsFixes()).toBe(true);
    expect(installGrpcJsFixes()).toBe(true);
    const { Subchannel } = require('@grpc/grpc-js/build/src/subchannel');
    expect(Subchannel.prototype[PATCHED]).toBe(true);
    expect(checkGrpcJsShapes()).toEqual([]); // a patched prototype still passes
  });

  it('an unexpected shape changes nothing and warns once', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const unrefOnly = { unref() {} };
      const good = { unref: grpcUnrefLike, transitionToState: (oldStates: unknown) => oldStates };
      expect(
        installInto([
          ['a', good],
          ['b', unrefOnly],
        ]),
      ).toBe(false);
      expect(installInto([['c', undefined]])).toBe(false);
      expect((good as any)[PATCHED]).toBeUndefined(); // all or nothing
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toMatch(/b: Subchannel.unref/);
      expect(warn.mock.calls[0][1]).toMatchObject({ code: 'ERESILIENT_GRPC_JS_SHAPE' });
    } finally {
      warn.mockRestore();
    }
  });
});

/** Looks like grpc-js 1.14's `Subchannel.unref` to the shape check. */
function grpcUnrefLike(this: any) {
  this.refcount -= 1;
  this.transitionToState([1 /* CONNECTING */, 2 /* READY */], 0);
}
