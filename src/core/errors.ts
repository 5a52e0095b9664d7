// Typed errors of the engine: every rejection says what was wrong and where (file, line, field or rule).

export class WhetstoneError extends Error {
  /** Short machine-readable kind, e.g. 'safetensors', 'config', 'data'. */
  readonly kind: string;
  constructor(kind: string, message: string) {
    super(message);
    this.name = 'WhetstoneError';
    this.kind = kind;
  }
}

/** A model or config that this engine does not support or that is malformed. */
export class ConfigError extends WhetstoneError {
  constructor(message: string) {
    super('config', message);
    this.name = 'ConfigError';
  }
}

/** The device (WebGPU) cannot run what was asked: a lost device, a buffer too large for a binding. */
export class DeviceError extends WhetstoneError {
  constructor(message: string) {
    super('device', message);
    this.name = 'DeviceError';
  }
}
