// The one error type of dataset import: it names the file, the line of the offending record and the field.

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
