#!/usr/bin/env node
'use strict';
// Launcher of the etcd3-resilient CLI (lib/cli/main.ts, compiled to dist/).
let cli;
try {
  cli = require('../dist/lib/cli/main.js');
} catch (err) {
  if (
    err &&
    err.code === 'MODULE_NOT_FOUND' &&
    String(err.message).includes('dist/lib/cli/main.js')
  ) {
    process.stderr.write('etcd3-resilient: dist/ is missing; run `npm run build` first.\n');
    process.exit(1);
  }
  throw err;
}
cli.run();
