/**
 * An OpenTelemetry SDK tracer provider that keeps finished spans in memory (the SDK's
 * own InMemorySpanExporter), for tests.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ROOT_CONTEXT, context, type Context, type ContextManager } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';

export interface MemoryTracing {
  readonly provider: BasicTracerProvider;
  /** Finished spans so far. */
  spans(): ReadableSpan[];
  /** Event names of `span`, in order. */
  events(span: ReadableSpan): string[];
}

export function memoryTracing(): MemoryTracing {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  return {
    provider,
    spans: () => exporter.getFinishedSpans(),
    events: span => span.events.map(e => e.name),
  };
}

/**
 * Makes `context.with()` of `@opentelemetry/api` work (an AsyncLocalStorage context
 * manager, as the Node SDK installs). Returns the function that removes it.
 */
export function enableContext(): () => void {
  const als = new AsyncLocalStorage<Context>();
  const manager: ContextManager = {
    active: () => als.getStore() ?? ROOT_CONTEXT,
    with: (ctx, fn, thisArg, ...args) => als.run(ctx, () => fn.call(thisArg, ...args)),
    bind: (_ctx, target) => target,
    enable() {
      return manager;
    },
    disable() {
      als.disable();
      return manager;
    },
  };
  context.setGlobalContextManager(manager);
  return () => context.disable();
}
