/**
 * Plain words for the operating system's error codes in messages about files ("no such file" rather than
 * "ENOENT"); an unknown code is shown as it is. Browser-safe (no node:* import).
 */
const WORDS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a folder, not a file',
  ENOTDIR: 'a part of the path is not a folder',
  EEXIST: 'already exists',
  ENOSPC: 'disk full',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many symbolic links',
  EIO: 'input/output error',
  EBUSY: 'busy',
  EFBIG: 'file too large',
  EXDEV: 'cannot rename across file systems',
};

/** The words for an error thrown by node:fs (its `code`), else its message. */
export function errnoWords(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') return WORDS[code] ?? code;
  return (e as Error).message ?? String(e);
}
