/**
 * Test infrastructure, exported as `etcd3-resilient/testing`: real etcd clusters
 * on demand ({@link startEtcd}) and a fault-injecting TCP proxy ({@link startProxy}).
 */
export { startEtcd } from './etcd-cluster';
export type { StartEtcdOptions, EtcdCluster } from './etcd-cluster';
export type { EtcdMember } from './etcd-member';
export {
  findEtcdBinary,
  findEtcdctlBinary,
  verifyEtcdBinary,
  etcdctl,
  ETCD_INSTALL_HINT,
  WELL_KNOWN_ETCD_DIRS,
} from './etcd-binary';
export type { EtcdctlResult } from './etcd-binary';
export type { EtcdTlsOptions } from './etcd-http';
export { freePort, freePorts, isPortFree } from './ports';
export { startProxy } from './fault-proxy';
export type { FaultProxy, Direction } from './fault-proxy';
export { EtcdNotFoundError, EtcdStartError } from './errors';
export {
  RUN_DIR_ENV,
  isPidAlive,
  isPidRunning,
  trackedPids,
  trackedDataDirs,
} from './process-registry';
export { auditRunDir } from './run-audit';
export { generateTestCerts } from './certs';
export type { CertPair, TestCerts, GenerateCertsOptions } from './certs';
export { etcdMetric } from './etcd-metrics';
