/**
 * Metrics of registrations (`register()`) and discoveries (`discover()`): lease
 * losses and re-grants, outage durations, whether each instance is published,
 * instances discovered, re-lists and watch resumes.
 */
import type { IDisposable } from 'cockatiel';
import type { MetricSet } from './metric-set';
import {
  OUTAGE_BUCKETS,
  type InstrumentableDiscovery,
  type InstrumentableRegistration,
} from './types';

/** @internal Registration and discovery metrics of one `instrument()` call. */
export class ServiceMetrics {
  private readonly registrations = new Set<InstrumentableRegistration>();
  /** Each discovery with the `disconnects` count already added to `watch_resumes_total`. */
  private readonly discoveries = new Map<InstrumentableDiscovery, number>();
  private readonly handles = new Set<IDisposable>();
  private readonly lost;
  private readonly restored;
  private readonly outage;
  private readonly resyncs;

  constructor(set: MetricSet) {
    this.lost = set.counter(
      'registration_lost_total',
      'Registrations whose lease was lost, by reason.',
      ['service', 'reason'],
    );
    this.restored = set.counter(
      'registration_restored_total',
      'Registrations restored under a newly granted lease after a loss (lease re-grants).',
      ['service'],
    );
    this.outage = set.histogram(
      'registration_outage_seconds',
      'How long a registration was missing, from lease loss to restore, in seconds.',
      ['service'],
      OUTAGE_BUCKETS,
    );
    set.gauge(
      'registration_up',
      'Whether an instance is published in etcd (1) or not (0).',
      ['service', 'id'],
      gauge => {
        gauge.reset();
        for (const reg of this.registrations) {
          gauge.set(
            { service: reg.instance.service, id: reg.instance.id },
            reg.state === 'published' ? 1 : 0,
          );
        }
      },
    );
    this.resyncs = set.counter(
      'discovery_resyncs_total',
      'Times a discovered service was listed again (after a compaction or a cancelled watch).',
      ['service'],
    );
    set.counter(
      'discovery_watch_resumes_total',
      "Times a discovery's watch stream broke or stalled and was resumed.",
      ['service'],
      // Taken at scrape time from the discovery's own counter, so nothing is missed.
      counter => {
        for (const [d, seen] of this.discoveries) {
          const now = d.stats().disconnects;
          if (now > seen) {
            counter.inc({ service: d.service }, now - seen);
            this.discoveries.set(d, now);
          }
        }
      },
    );
    set.gauge(
      'discovery_instances',
      'Instances currently discovered, per service.',
      ['service'],
      gauge => {
        gauge.reset();
        for (const d of this.discoveries.keys()) {
          gauge.inc({ service: d.service }, d.stats().instances);
        }
      },
    );
  }

  /** Starts following `reg`; dispose the result to stop. */
  addRegistration(reg: InstrumentableRegistration): IDisposable {
    this.registrations.add(reg);
    const service = reg.instance.service;
    const subs = [
      reg.onLost(e => this.lost.inc({ service, reason: e.reason })),
      reg.onRestored(e => {
        this.restored.inc({ service });
        this.outage.observe({ service }, e.outageMs / 1000);
      }),
    ];
    return this.handle(() => {
      this.registrations.delete(reg);
      for (const s of subs) s.dispose();
    });
  }

  /** Starts following `d`; dispose the result to stop. */
  addDiscovery(d: InstrumentableDiscovery): IDisposable {
    this.discoveries.set(d, d.stats().disconnects);
    const sub = d.onResync(() => this.resyncs.inc({ service: d.service }));
    return this.handle(() => {
      this.discoveries.delete(d);
      sub.dispose();
    });
  }

  /** Stops following everything. */
  dispose(): void {
    for (const h of [...this.handles]) h.dispose();
  }

  private handle(release: () => void): IDisposable {
    const h: IDisposable = {
      dispose: () => {
        if (this.handles.delete(h)) release();
      },
    };
    this.handles.add(h);
    return h;
  }
}
