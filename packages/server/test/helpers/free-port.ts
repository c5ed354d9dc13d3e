/** A free loopback port, for a child process whose port the test must know before it listens. */
export { freePort } from '../../scripts/local-services.js'
