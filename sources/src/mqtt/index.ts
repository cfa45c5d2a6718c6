import type { SourceKindModule } from '../source.js';

/** Placeholder until the mqtt source lands: it reads nothing and says so. */
export const mqttSource: SourceKindModule<'mqtt'> = {
  kind: 'mqtt',
  exclusive: false,
  reader: () => {
    throw new Error('the mqtt event source is not built yet');
  },
};
