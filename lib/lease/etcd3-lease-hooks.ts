/**
 * The one place that reaches into etcd3's private `Lease` methods (`keepalive`,
 * `close`, `emitLoss`), replacing them on one instance. Shape-checked: if etcd3's
 * `Lease` no longer has them, it throws at construction rather than misbehave.
 */
import { Lease } from 'etcd3';

type Hookable = 'keepalive' | 'close' | 'emitLoss';
type Fn = (...args: any[]) => any;

const HOOKABLE: Hookable[] = ['keepalive', 'close', 'emitLoss'];

/** Replaces private methods of one etcd3 `Lease` instance. */
export function leaseHooks(lease: Lease): {
  replace(name: Hookable, make: (base: Fn) => Fn): void;
  base(name: Hookable): Fn;
} {
  const proto = Lease.prototype as unknown as Record<string, unknown>;
  for (const name of HOOKABLE) {
    if (typeof proto[name] !== 'function') {
      throw new Error(
        `etcd3's Lease has no ${name}() any more: this etcd3 version is not supported`,
      );
    }
  }
  const target = lease as unknown as Record<string, Fn>;
  return {
    replace(name, make) {
      const base = (proto[name] as Fn).bind(lease);
      target[name] = make(base);
    },
    base(name) {
      return (proto[name] as Fn).bind(lease);
    },
  };
}

/** The pool and key prefixer of an etcd3 `Namespace` (or `Etcd3`), shape-checked. */
export function namespaceParts(ns: unknown): { pool: any; nsApplicator: any } {
  const parts = ns as { pool?: any; nsApplicator?: any };
  if (
    typeof parts?.pool?.withConnection !== 'function' ||
    typeof parts?.nsApplicator?.applyKey !== 'function'
  ) {
    throw new Error("etcd3's Namespace changed shape: this etcd3 version is not supported");
  }
  return { pool: parts.pool, nsApplicator: parts.nsApplicator };
}
