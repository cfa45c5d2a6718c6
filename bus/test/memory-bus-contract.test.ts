import { MemoryBus } from '../src/index.js';
import { describeMessageBusContract } from './support/message-bus-contract.js';

describeMessageBusContract(
  'memory',
  async () => {
    const bus = new MemoryBus();
    return { bus, peer: async () => bus, close: () => bus.close() };
  },
  { serverControl: false },
);
