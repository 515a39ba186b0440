/**
 * Errors raised by the test infrastructure (`etcd3-resilient/testing`). Bad
 * options still throw the library's own {@link InvalidOptionError}.
 */
import { ResilientEtcdError } from '../errors';

/** No etcd binary was found (ETCD_BIN unset, `etcd` not on PATH nor at a well-known path). */
export class EtcdNotFoundError extends ResilientEtcdError {
  public override readonly code: string = 'ERESILIENT_ETCD_NOT_FOUND';
}

/**
 * An etcd process could not be started or did not become healthy in time. The
 * message includes the tail of the process's stderr (`stderrTail`).
 */
export class EtcdStartError extends ResilientEtcdError {
  public override readonly code: string = 'ERESILIENT_ETCD_START';
  constructor(
    message: string,
    /** Last lines etcd wrote to stderr, may be empty. */
    public readonly stderrTail: string = '',
    options?: { cause?: unknown },
  ) {
    super(stderrTail ? `${message}\n--- etcd stderr (tail) ---\n${stderrTail}` : message, options);
  }
}
