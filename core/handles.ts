// The one spelling of a chunk handle in logs, messages and human output:
// 16 hex digits, as the chunk files are named.
import type { Handle } from "../net/messages";

export function handleName(handle: Handle): string {
  return handle.toString(16).padStart(16, "0");
}
