// Path validation (M1): absolute, no empty components, no "." or "..", no NUL.
import { ErrorCode, GfsError } from "../../net/errors";

export const MAX_PATH_BYTES = 4096;
export const MAX_NAME_BYTES = 255;

/** Returns the path's components; throws INVALID_PATH with the reason. */
export function splitPath(path: unknown): string[] {
  if (typeof path !== "string") throw new GfsError(ErrorCode.INVALID_PATH, "path must be a string");
  if (!path.startsWith("/")) throw new GfsError(ErrorCode.INVALID_PATH, `path must be absolute: '${printable(path)}'`);
  // A UTF-16 unit is at most 3 UTF-8 bytes: most paths are short enough not to be measured.
  if (path.length * 3 > MAX_PATH_BYTES && Buffer.byteLength(path) > MAX_PATH_BYTES) throw new GfsError(ErrorCode.INVALID_PATH, `path is longer than ${MAX_PATH_BYTES} bytes`);
  if (path.includes("\0")) throw new GfsError(ErrorCode.INVALID_PATH, "path contains a NUL byte");
  if (path === "/") return [];
  const body = path.endsWith("/") ? path.slice(1, -1) : path.slice(1);
  const parts = body.split("/");
  for (const p of parts) {
    if (p === "") throw new GfsError(ErrorCode.INVALID_PATH, `path has an empty component: '${printable(path)}'`);
    if (p === "." || p === "..") throw new GfsError(ErrorCode.INVALID_PATH, `path may not contain '${p}': '${printable(path)}'`);
    if (p.length * 3 > MAX_NAME_BYTES && Buffer.byteLength(p) > MAX_NAME_BYTES) throw new GfsError(ErrorCode.INVALID_PATH, `name longer than ${MAX_NAME_BYTES} bytes in '${printable(path)}'`);
  }
  return parts;
}

export function normalizePath(path: unknown): string {
  const parts = splitPath(path);
  // Valid and without a trailing slash, a path is its own normal form.
  return (path as string).length > 1 && (path as string).endsWith("/") ? "/" + parts.join("/") : (path as string);
}

export function joinPath(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

function printable(s: string): string {
  return s.length > 200 ? s.slice(0, 200) + "..." : s;
}
