import { MemoryBus } from '../src/index.js';
import { describeAckLaterContract } from './support/ack-later-contract.js';
import { type BusFixture, describeMessageBusContract } from './support/message-bus-contract.js';

const memoryBus = async (): Promise<BusFixture> => {
  const bus = new MemoryBus();
  return { bus, peer: async () => bus, close: () => bus.close() };
};

describeMessageBusContract('memory', memoryBus, { serverControl: false });
describeAckLaterContract('memory', memoryBus, { serverControl: false });
