/** What the store logs through: the part of @nimbus/api's Logger it needs. */
export interface StoreLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: StoreLogger = { info: () => {}, warn: () => {} };
