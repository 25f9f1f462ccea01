// The one msgpackr configuration both ends use. Plain msgpack: no record
// extension (it would need structures shared out of band), maps decode to
// plain objects, 64-bit integers decode to numbers (handles stay below 2^53).
import { Packr, Unpackr } from "msgpackr";

const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });
const unpackr = new Unpackr({ useRecords: false, moreTypes: false, mapsAsObjects: true, int64AsType: "number" } as ConstructorParameters<typeof Unpackr>[0]);

export function encodeBody(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Throws on bodies that are not valid msgpack. */
export function decodeBody(body: Uint8Array): unknown {
  return unpackr.unpack(body);
}
