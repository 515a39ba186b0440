import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidOptionError } from '../../lib/errors';
import { installShutdownHandlers, type ShutdownHandle } from '../../lib/registry/shutdown';

// SIGUSR2 is not used by vitest; emitting it on `process` calls only our listener.
const SIG = 'SIGUSR2' as const;
const handles: ShutdownHandle[] = [];
afterEach(() => {
  vi.useRealTimers();
  handles.splice(0).forEach(h => h.dispose());
});

const waitFor = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) {
    await new Promise(r => setTimeout(r, 10));
  }
};

describe('installShutdownHandlers', () => {
  it('closes in order on the signal, then exits with 0', async () => {
    const order: string[] = [];
    const exits: number[] = [];
    const closable = (name: string, ms: number) => ({
      close: () => new Promise<void>(r => setTimeout(() => (order.push(name), r()), ms)),
    });
    handles.push(
      installShutdownHandlers([closable('registration', 30), closable('client', 1)], {
        signals: [SIG],
        exit: c => exits.push(c),
      }),
    );
    process.emit(SIG, SIG);
    await waitFor(() => exits.length > 0);
    expect(order).toEqual(['registration', 'client']);
    expect(exits).toEqual([0]);
  });

  it('is bounded: a hanging close is abandoned at the deadline, the rest started, exit code 1', async () => {
    const exits: number[] = [];
    let lastClosed = false;
    vi.useFakeTimers();
    handles.push(
      installShutdownHandlers(
        [{ close: () => new Promise(() => undefined) }, { close: () => (lastClosed = true) }],
        {
          signals: [SIG],
          timeoutMs: 200,
          exit: c => exits.push(c),
        },
      ),
    );
    const h = handles[handles.length - 1]!;
    process.emit(SIG, SIG);
    await vi.advanceTimersByTimeAsync(199);
    expect(exits).toEqual([]); // the hanging close gets its timeoutMs...
    await vi.advanceTimersByTimeAsync(1);
    expect(exits).toEqual([1]); // ...and not a moment more
    const r = await h.shutdown();
    expect(r.timedOut).toBe(true);
    expect(r.failed).toContain(0);
    expect(lastClosed).toBe(true); // started even though no time was left to wait for it
  });

  it('a failing close does not stop the others; a second signal exits at once', async () => {
    const exits: number[] = [];
    let second = false;
    const h = installShutdownHandlers(
      [
        {
          close: () => {
            throw new Error('boom');
          },
        },
        { close: () => new Promise<void>(r => setTimeout(() => ((second = true), r()), 100)) },
      ],
      { signals: [SIG], exit: c => exits.push(c) },
    );
    handles.push(h);
    process.emit(SIG, SIG);
    process.emit(SIG, SIG);
    expect(exits).toEqual([1]); // the second signal
    const r = await h.shutdown();
    expect(r.failed).toEqual([0]);
    expect(second).toBe(true);
  });

  it('is never installed implicitly and dispose() removes it', () => {
    const before = process.listenerCount(SIG);
    const h = installShutdownHandlers([], { signals: [SIG], exit: false });
    expect(process.listenerCount(SIG)).toBe(before + 1);
    h.dispose();
    h.dispose();
    expect(process.listenerCount(SIG)).toBe(before);
  });

  it('validates its options', () => {
    expect(() => installShutdownHandlers([{} as any])).toThrow(InvalidOptionError);
    expect(() => installShutdownHandlers([], { signals: [] })).toThrow(InvalidOptionError);
    expect(() => installShutdownHandlers([], { timeoutMs: 0 })).toThrow(InvalidOptionError);
    expect(() => installShutdownHandlers([], { timeoutMs: Object.create(null) })).toThrow(
      InvalidOptionError,
    );
  });
});
