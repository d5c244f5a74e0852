/** A data file that does not have the expected structure; the message names the file and offset. */
export class DataFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DataFormatError";
  }
}

/** The data could not be found (and not downloaded); the message says where to put which file. */
export class DataNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DataNotFoundError";
  }
}
