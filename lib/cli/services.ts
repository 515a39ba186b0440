/**
 * `etcd3-resilient services [name] [--watch]`: lists the instances registered in
 * etcd (Go `naming/endpoints` records, `<prefix><service>/<id>` →
 * `{"Op":0,"Addr":…,"Metadata":…}`), or follows them until interrupted.
 */
import type { IKeyValue } from 'etcd3';
import { createClient, type Etcd3 } from '../client';
import { discover } from '../discovery/discovery';
import { describeError } from '../policy/describe-error';
import {
  assertPrefix,
  assertServiceName,
  goNamingCodec,
  servicePrefix,
  type ServiceInstance,
} from '../service-record';
import {
  endpointsFlag,
  intFlag,
  parseCommand,
  SERVICES_OPTIONS,
  stringFlag,
  UsageError,
} from './args';
import { credentials, etcd3Options, tlsFiles } from './connection';
import { printable, safeJson } from './escape';
import type { Io } from './io';

/** Usage of `services`. */
export const SERVICES_USAGE = `Usage: etcd3-resilient services [name] [--watch] [--prefix P] [options]

Lists the instances registered in etcd (Go naming/endpoints records: key <prefix><service>/<id>,
value {"Op":0,"Addr":"host:port","Metadata":...}); with a name, only that service's.
With --watch, prints the current instances, then every change until Ctrl-C.
Characters that are not printable (from keys or values) are shown escaped (\x1b, \u2028).

Options:
  --prefix P        key prefix the services live under (default '', Go's layout)
  -w, --watch       follow changes; a removed instance is shown with its last known record
  --json            one JSON object per line (Go naming fields plus service, id, key)
  --endpoints a,b   etcd client URLs (default: $ETCD_ENDPOINTS or 127.0.0.1:2379)
  --cacert, --cert, --key, --user, --password-env, --timeout MS   as for doctor
  -h, --help        print this help`;

/** One listed instance with its key. */
interface Listed extends ServiceInstance {
  readonly key: string;
}

/** Splits `<prefix><service>/<id>` and decodes the value; undefined if it is no record. */
function decodeRecord(prefix: string, kv: IKeyValue): Listed | undefined {
  const key = kv.key.toString();
  if (!key.startsWith(prefix)) return undefined;
  const rest = key.slice(prefix.length);
  const slash = rest.lastIndexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return undefined;
  const service = rest.slice(0, slash);
  const id = rest.slice(slash + 1);
  try {
    return { key, ...goNamingCodec.decode(key, kv.value.toString(), service, id) };
  } catch {
    return undefined;
  }
}

/**
 * One output line: a JSON object (escaped by {@link safeJson}), or tab-separated
 * fields each passed through {@link printable}, so a key cannot forge rows, columns
 * or terminal sequences.
 */
function format(
  i: Listed | (ServiceInstance & { key?: string }),
  json: boolean,
  event?: string,
): string {
  if (json) {
    return safeJson({
      ...(event ? { event } : {}),
      service: i.service,
      id: i.id,
      key: i.key,
      Op: 0,
      Addr: i.addr,
      Metadata: i.metadata ?? null,
    });
  }
  const meta = i.metadata === null || i.metadata === undefined ? '' : JSON.stringify(i.metadata);
  const fields = [i.service, i.id, i.addr, meta].map(f => printable(f)).join('\t');
  return `${event ? `${new Date().toISOString()} ${event.padEnd(8)} ` : ''}${fields}`.trimEnd();
}

async function list(
  client: Etcd3,
  prefix: string,
  name: string | undefined,
): Promise<{ found: Listed[]; revision: string; skipped: number }> {
  const from = name ? servicePrefix(prefix, name) : prefix;
  const res = await (from === '' ? client.getAll() : client.getAll().prefix(from)).exec();
  const found: Listed[] = [];
  let skipped = 0;
  for (const kv of res.kvs) {
    const rec = decodeRecord(prefix, kv);
    if (rec && (!name || rec.service === name)) found.push(rec);
    else if (name) skipped++;
  }
  found.sort((a, b) => a.service.localeCompare(b.service) || a.id.localeCompare(b.id));
  return { found, revision: res.header.revision, skipped };
}

/** Resolves on the first SIGINT or SIGTERM. */
function interrupted(): Promise<void> {
  return new Promise(resolve => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** Parses `services`' arguments, runs it, and returns the exit code. */
export async function runServices(argv: readonly string[], io: Io): Promise<number> {
  const args = parseCommand(argv, SERVICES_OPTIONS, Infinity);
  if (args.flags.has('help')) {
    io.out(`${SERVICES_USAGE}\n`);
    return 0;
  }
  if (args.positionals.length > 1) throw new UsageError('at most one service name');
  const name = args.positionals[0];
  if (name !== undefined) {
    try {
      assertServiceName(name);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  const prefix = stringFlag(args, 'prefix') ?? '';
  try {
    assertPrefix(prefix);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const json = args.flags.has('json');
  const hosts = endpointsFlag(args);
  const timeoutMs = intFlag(args, 'timeout', 5000);
  const client = createClient({
    ...etcd3Options(hosts, tlsFiles(args), credentials(args)),
    callTimeoutMs: timeoutMs,
  });
  try {
    const { found, revision, skipped } = await list(client, prefix, name);
    if (!json && !args.flags.has('watch'))
      io.err(`${found.length} instance(s)${name ? ` of ${name}` : ''}\n`);
    for (const i of found)
      io.out(`${format(i, json, args.flags.has('watch') ? 'present' : undefined)}\n`);
    if (skipped > 0) io.err(`${skipped} key(s) under the prefix are not valid records (skipped)\n`);
    if (!args.flags.has('watch')) return 0;
    const stop = interrupted();
    if (name) {
      const d = discover(client, name, { prefix });
      d.onAdded(i => found.some(f => f.id === i.id) || io.out(`${format(i, json, 'added')}\n`));
      d.onUpdated(u => io.out(`${format(u.instance, json, 'updated')}\n`));
      d.onRemoved(i => io.out(`${format(i, json, 'removed')}\n`));
      await d.ready;
      found.length = 0; // after the first listing, every add is news
      await stop;
      await d.close();
    } else {
      // Last known record per key, so a removal shows what was removed.
      const known = new Map<string, Listed>(found.map(f => [f.key, f]));
      const watcher = await client
        .watch()
        .prefix(prefix)
        .startRevision(String(Number(revision) + 1))
        .create();
      watcher.on('put', kv => {
        const rec = decodeRecord(prefix, kv);
        if (!rec) return;
        const event = known.has(rec.key) ? 'updated' : 'added';
        known.set(rec.key, rec);
        io.out(`${format(rec, json, event)}\n`);
      });
      watcher.on('delete', kv => {
        const key = kv.key.toString();
        const last = known.get(key);
        if (!last) return; // not a record we listed or saw written
        known.delete(key);
        io.out(`${format(last, json, 'removed')}\n`);
      });
      watcher.on('error', err => io.err(`watch error: ${describeError(err)}\n`));
      await stop;
      await watcher.cancel().catch(() => undefined);
    }
    return 0;
  } catch (err) {
    io.err(`error: ${describeError(err)}\n`);
    io.err(
      `FIX: check the endpoints with \`etcd3-resilient doctor --endpoints ${hosts.join(',')}\`\n`,
    );
    return 1;
  } finally {
    await client.close();
  }
}
