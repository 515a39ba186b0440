/**
 * No connection to the endpoint was ready in time. The call was never sent, so it is
 * safe to try elsewhere, even for a write.
 */
export class NotConnectedError extends Error {
  public readonly neverSent = true;
  /**
   * @param connectFailed the endpoint's last connection attempt failed outright (refused,
   *   TLS...): a definite answer, unlike a connection that is merely not up yet
   */
  constructor(
    public readonly endpoint: string,
    reason: string,
    lastError?: string,
    public readonly connectFailed = false,
  ) {
    // Only a transport error is worth quoting; not an earlier NotConnectedError.
    const cause =
      lastError && !lastError.startsWith('NotConnectedError') ? ` (last error: ${lastError})` : '';
    super(`Not connected to ${endpoint}: ${reason}${cause}`);
    this.name = 'NotConnectedError';
  }
}
