/**
 * Every error tierflow raises derives from TierflowError: a stable `code` callers can switch on,
 * a `retriable` flag that tells a retry loop whether trying again can help, and the `cause`.
 */
export class TierflowError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** A record does not match its dataset's declaration. Names the record and the field. */
export class ValidationError extends TierflowError {
  readonly dataset: string;
  readonly rowIndex: number;
  readonly field: string;
  readonly reason: string;

  constructor(dataset: string, rowIndex: number, field: string, reason: string) {
    super('VALIDATION', `${dataset}: row ${rowIndex}, field "${field}": ${reason}`);
    this.dataset = dataset;
    this.rowIndex = rowIndex;
    this.field = field;
    this.reason = reason;
  }
}

export class UnknownDatasetError extends TierflowError {
  readonly dataset: string;
  constructor(dataset: string, known: readonly string[]) {
    super('UNKNOWN_DATASET', `unknown dataset "${dataset}" (known: ${known.join(', ')})`);
    this.dataset = dataset;
  }
}

/** A dataset declaration itself is inconsistent (a programming error, found at load time). */
export class SchemaDefinitionError extends TierflowError {
  constructor(message: string) {
    super('SCHEMA_DEFINITION', message);
  }
}

export class ConfigError extends TierflowError {
  constructor(message: string, cause?: unknown) {
    super('CONFIG', message, { cause });
  }
}

/** The hot tier could not be reached, or dropped the connection. Trying again later can help. */
export class HotConnectionError extends TierflowError {
  constructor(message: string, cause?: unknown) {
    super('HOT_CONNECTION', message, { retriable: true, cause });
  }
}

/** The hot tier refused a statement (constraint, type, deadlock, …). */
export class HotWriteError extends TierflowError {
  readonly dataset: string;
  constructor(dataset: string, message: string, options: { retriable: boolean; cause: unknown }) {
    super('HOT_WRITE', `${dataset}: ${message}`, options);
    this.dataset = dataset;
  }
}

export class MigrationError extends TierflowError {
  constructor(message: string, cause?: unknown) {
    super('MIGRATION', message, { cause });
  }
}

export class EmbeddedServerError extends TierflowError {
  constructor(message: string, cause?: unknown) {
    super('EMBEDDED_SERVER', message, { cause });
  }
}

export class ImportError extends TierflowError {
  constructor(message: string, cause?: unknown) {
    super('IMPORT', message, { cause });
  }
}
