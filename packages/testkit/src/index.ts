export {
  type ChaosProxy,
  type ChaosProxyOptions,
  type ChaosProxyStats,
  createChaosProxy,
} from './chaos-proxy.js'
export { type LoopbackTarget, loopbackTarget } from './loopback.js'
export type { Faults } from './network/link.js'
export {
  createNetwork,
  type LawViolation,
  type Network,
  type NetworkOptions,
  type NetworkStats,
  type Node,
  SERVER,
  type ServerClose,
  type SettleOptions,
  type StatusObservation,
} from './network/network.js'
export { Replica } from './network/replica.js'
export { createRandom, type Random } from './random.js'
