import { createMemoryQuotaBroker } from '../../adapters/quota/memory-broker.ts';
import type { QuotaBroker } from '../../adapters/quota/port.ts';
import { quotaBrokerContract } from './contract.ts';

/** The same in-process state seen as a second broker; closing it changes nothing (a crashed worker). */
function peerOf(broker: QuotaBroker): QuotaBroker {
  return {
    acquire: (request, options) => broker.acquire(request, options),
    renew: (leaseId, leaseMs) => broker.renew(leaseId, leaseMs),
    release: (leaseId) => broker.release(leaseId),
    position: (leaseId) => broker.position(leaseId),
    snapshot: () => broker.snapshot(),
    close: async () => {},
  };
}

quotaBrokerContract('memory', {
  async open(config) {
    const broker = createMemoryQuotaBroker(config);
    return { broker, peer: async () => peerOf(broker), close: () => broker.close() };
  },
});
