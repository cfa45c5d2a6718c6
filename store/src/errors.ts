/**
 * What the stores throw. Callers (the gateway's error mapping, the runtime's ctx.state) tell
 * them apart by class: unavailable is worth a retry later (503), the others are not.
 */

/** Redis could not be reached or did not answer in time; nothing was read, and a write may or may not have landed. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** Redis answered with an error that is not about availability (NOPERM, WRONGTYPE, a script error). */
export class StoreCommandError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StoreCommandError';
  }
}

/** A function's state could not be reached; invocations that do not touch state are unaffected. */
export class StateUnavailableError extends StoreUnavailableError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StateUnavailableError';
  }
}

export class InvalidStateKeyError extends Error {
  constructor(
    readonly key: string,
    problem: string,
  ) {
    super(`invalid state key ${JSON.stringify(key.slice(0, 80))}: ${problem}`);
    this.name = 'InvalidStateKeyError';
  }
}

/** The value is not plain JSON, or an option (ttlMs, incr's amount) is out of range. */
export class InvalidStateValueError extends Error {
  constructor(
    readonly key: string,
    problem: string,
  ) {
    super(`state key ${JSON.stringify(key)}: ${problem}`);
    this.name = 'InvalidStateValueError';
  }
}

export class StateValueTooLargeError extends Error {
  constructor(
    readonly key: string,
    readonly size: number,
    readonly limit: number,
  ) {
    super(
      `state key ${JSON.stringify(key)}: the value is ${size} bytes as JSON, over the limit of ${limit} bytes`,
    );
    this.name = 'StateValueTooLargeError';
  }
}

/**
 * The write would take the function past one of its state quotas (its number of keys, or its
 * bytes); nothing was written. Deleting keys, or a larger quota, makes room.
 */
export class StateQuotaExceededError extends Error {
  constructor(
    readonly key: string,
    readonly quota: 'maxKeys' | 'maxBytes',
    readonly would: number,
    readonly limit: number,
  ) {
    super(
      quota === 'maxKeys'
        ? `state key ${JSON.stringify(key)}: the function's state quota maxKeys is reached: this write would make ${would} keys, the limit is ${limit}`
        : `state key ${JSON.stringify(key)}: the function's state quota maxBytes is reached: this write would make ${would} bytes, the limit is ${limit}`,
    );
    this.name = 'StateQuotaExceededError';
  }
}

/**
 * Redis is at its maxmemory and refuses writes (noeviction): the state store is full for every
 * function. Reads and deletes still work; nothing was written.
 */
export class StateStoreFullError extends StoreUnavailableError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StateStoreFullError';
  }
}

/** incr met a stored value that is not a safe integer, or the sum would leave the safe-integer range. */
export class StateNotAnIntegerError extends Error {
  constructor(
    readonly key: string,
    problem: string,
  ) {
    super(`state key ${JSON.stringify(key)}: ${problem}`);
    this.name = 'StateNotAnIntegerError';
  }
}

export class CallExistsError extends Error {
  constructor(readonly id: string) {
    super(`a call record with id ${JSON.stringify(id)} already exists`);
    this.name = 'CallExistsError';
  }
}

/** A record, patch, dead letter, claim or listing argument that breaks the port's rules. */
export class InvalidStoreInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidStoreInputError';
  }
}
