/**
 * Reads etcd's own Prometheus endpoint: what the server saw (streams opened, messages
 * received, watchers), independent of what a client reports about itself.
 */

/** Sums every sample of metric `name` on `<endpoint>/metrics` whose labels contain `labels`. */
export async function etcdMetric(endpoint: string, name: string, labels = ''): Promise<number> {
  const text = await (
    await fetch(`${endpoint}/metrics`, { signal: AbortSignal.timeout(5000) })
  ).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const next = line[name.length];
    if (line.startsWith(name) && (next === '{' || next === ' ') && line.includes(labels)) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}
