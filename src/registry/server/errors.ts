/** The distribution spec's error codes, as `{"errors":[{code,message,detail}]}` bodies. */
export type RegistryErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'PAGINATION_NUMBER_INVALID'
  | 'RANGE_INVALID'
  | 'UNKNOWN';

export class RegistryHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: RegistryErrorCode,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
  }

  body(): string {
    return JSON.stringify({ errors: [{ code: this.code, message: this.message, ...(this.detail !== undefined ? { detail: this.detail } : {}) }] });
  }
}

export const blobUnknown = (d: string) => new RegistryHttpError(404, 'BLOB_UNKNOWN', 'blob unknown to registry', d);
export const manifestUnknown = (r: string) => new RegistryHttpError(404, 'MANIFEST_UNKNOWN', 'manifest unknown', r);
export const uploadUnknown = () => new RegistryHttpError(404, 'BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry');
export const digestInvalid = (detail: string) => new RegistryHttpError(400, 'DIGEST_INVALID', 'provided digest did not match uploaded content', detail);
export const nameUnknown = (n: string) => new RegistryHttpError(404, 'NAME_UNKNOWN', 'repository name not known to registry', { name: n });
