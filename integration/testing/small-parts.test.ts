/**
 * Small building blocks of lib/testing that need no etcd: the stderr ring and
 * the loopback port helpers.
 */
import * as net from 'node:net';
import { describe, expect, test } from 'vitest';
import { freePort, freePorts, isPortFree } from '../../lib/testing';
import { StderrRing } from '../../lib/testing/stderr-ring';

describe('StderrRing', () => {
  test('keeps only the last N lines, joining chunks split mid-line', () => {
    const ring = new StderrRing(3);
    ring.push('one\ntw');
    ring.push('o\nthree\nfour\nfi');
    expect(ring.tail()).toBe('two\nthree\nfour\nfi');
    ring.mark('--- marker ---');
    expect(ring.tail()).toBe('four\nfi\n--- marker ---');
    expect(ring.includes('marker')).toBe(true);
    expect(ring.includes('one')).toBe(false);
  });

  test('bounds a huge unterminated line', () => {
    const ring = new StderrRing(2);
    ring.push('x'.repeat(20_000));
    expect(ring.tail().length).toBeLessThan(2100);
  });
});

describe('ports', () => {
  test('freePort returns a bindable loopback port; isPortFree sees it taken once bound', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    expect(await isPortFree(port)).toBe(true);
    const server = net.createServer();
    await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve));
    try {
      expect(await isPortFree(port)).toBe(false);
    } finally {
      await new Promise(resolve => server.close(resolve));
    }
  });

  test('freePorts returns distinct ports', async () => {
    const ports = await freePorts(14);
    expect(new Set(ports).size).toBe(14);
  });
});
