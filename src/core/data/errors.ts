// The error types of dataset import: a DataError names the file, the line of the offending record and the
// field; DataErrors carries every record error of one file (when the import was asked to collect them).

import { WhetstoneError } from '../errors';

export class DataError extends WhetstoneError {
  readonly file: string;
  /** 1-based line where the offending record starts (for CSV, the row's first line). */
  readonly line: number;
  readonly field?: string;
  constructor(file: string, line: number, what: string, field?: string) {
    super('data', `${file}:${line}: ${what}${field !== undefined ? ` (field ${field})` : ''}`);
    this.name = 'DataError';
    this.file = file;
    this.line = line;
    if (field !== undefined) this.field = field;
  }
}

/** Several errors of one file, in line order. It is itself the first of them (file, line, field), so code
 *  that handles one DataError still works; `errors` lists them all and `truncated` says reading stopped at
 *  the collection limit. */
export class DataErrors extends DataError {
  readonly errors: DataError[];
  readonly truncated: boolean;
  constructor(errors: DataError[], truncated: boolean) {
    const first = errors[0];
    super(first.file, first.line, '', first.field);
    this.name = 'DataErrors';
    this.errors = errors;
    this.truncated = truncated;
    const more = errors.length - 1;
    this.message =
      more === 0 ? first.message : `${first.message} (and ${more}${truncated ? '+' : ''} more error${more === 1 && !truncated ? '' : 's'})`;
  }
}
