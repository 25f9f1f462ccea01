import { describe, expect, test } from "bun:test";
import { MasterState } from "../../core/master/state";

const params = { chunkSizeBytes: 100, replication: 3 };

function withFile(): MasterState {
  const s = new MasterState(params);
  s.apply({ o: "handles", n: 100 });
  s.apply({ o: "mkdir", p: "/d", t: 1 });
  s.apply({ o: "create", p: "/d/f", r: 3, t: 2 });
  s.apply({ o: "chunk", p: "/d/f", h: 1, v: 1 });
  s.apply({ o: "chunk", p: "/d/f", h: 2, v: 1 });
  s.apply({ o: "size", p: "/d/f", s: 150, t: 3 });
  return s;
}

describe("master state", () => {
  test("files map to chunks in order, with sizes derived from the file size", () => {
    const s = withFile();
    const f = s.getFile("/d/f");
    expect(s.ns.chunks(f)).toEqual([1, 2]);
    expect(s.chunks.get(1)!.sizeBytes).toBe(100);
    expect(s.chunks.get(2)!.sizeBytes).toBe(50);
    expect(s.fileSize(f)).toBe(150);
    expect(s.fileCount).toBe(1);
    expect(s.dirCount).toBe(2);
  });

  test("creating over an existing name or under a missing or file parent fails", () => {
    const s = withFile();
    expect(() => s.apply({ o: "create", p: "/d/f", r: 1, t: 0 })).toThrow(/already exists/);
    expect(() => s.apply({ o: "create", p: "/nope/f", r: 1, t: 0 })).toThrow(/no such directory/);
    expect(() => s.apply({ o: "create", p: "/d/f/g", r: 1, t: 0 })).toThrow(/not a directory/);
  });

  test("handles must be reserved, are never reused, and versions never go back", () => {
    const s = withFile();
    expect(() => s.apply({ o: "chunk", p: "/d/f", h: 100, v: 1 })).toThrow(/reserved/);
    expect(() => s.apply({ o: "chunk", p: "/d/f", h: 1, v: 1 })).toThrow(/is new/);
    s.apply({ o: "ver", h: 1, v: 3 });
    expect(() => s.apply({ o: "ver", h: 1, v: 2 })).toThrow(/never goes back/);
    expect(() => s.apply({ o: "handles", n: 50 })).toThrow(/only grow/);
  });

  test("rm and an overwriting mv free the chunks no file refers to", () => {
    const s = withFile();
    s.apply({ o: "create", p: "/g", r: 1, t: 4 });
    s.apply({ o: "chunk", p: "/g", h: 3, v: 1 });
    expect(s.apply({ o: "mv", s: "/g", d: "/d/f", t: 5 }).sort()).toEqual([1, 2]);
    expect(s.ns.chunks(s.getFile("/d/f"))).toEqual([3]);
    expect(s.apply({ o: "rm", p: "/d", t: 6 })).toEqual([3]);
    expect(s.chunks.size).toBe(0);
    expect(s.fileCount).toBe(0);
    expect(s.dirCount).toBe(1);
  });

  test("many names in one directory, renames and deletes keep lookups exact", () => {
    const s = new MasterState(params);
    s.apply({ o: "mkdir", p: "/big", t: 1 });
    for (let i = 0; i < 5000; i++) s.apply({ o: "create", p: `/big/f${i}`, r: 2, t: i });
    for (let i = 0; i < 5000; i += 2) s.apply({ o: "rm", p: `/big/f${i}`, t: 9 });
    for (let i = 1; i < 5000; i += 4) s.apply({ o: "mv", s: `/big/f${i}`, d: `/big/g${i}`, t: 9 });
    s.apply({ o: "create", p: "/big/été", r: 1, t: 3 });
    expect(s.fileCount).toBe(2501);
    expect(s.lookup("/big/f0")).toBe(0);
    expect(s.lookup("/big/f1")).toBe(0);
    expect(s.ns.nameOf(s.lookup("/big/g1"))).toBe("g1");
    expect(s.ns.isFile(s.lookup("/big/f3"))).toBe(true);
    expect(s.ns.replicationOf(s.lookup("/big/f3"))).toBe(2);
    expect(s.ns.nameOf(s.lookup("/big/été"))).toBe("été");
    expect([...s.ns.children(s.lookup("/big"))].length).toBe(2501);
    expect(() => s.apply({ o: "create", p: "/big/f3", r: 1, t: 0 })).toThrow(/already exists/);
  });

  test("walk lists parents before children", () => {
    const s = withFile();
    expect([...s.walk()].map(([p]) => p)).toEqual(["/d", "/d/f"]);
  });
});

/** An empty state and a way to apply changes to it numbered as the log numbers them. */
function numberedState(): { s: MasterState; apply: (op: Record<string, unknown>) => void } {
  const s = new MasterState({ chunkSizeBytes: 1 << 20, replication: 3 });
  let q = 1;
  return { s, apply: (op) => void s.apply({ ...op, q: q++ } as Parameters<typeof s.apply>[0]) };
}

describe("snapshots in the master state", () => {
  test("a snapshot shares chunks; copy-on-write gives one file its own; deleting drops references", () => {
    const s = withFile();
    s.apply({ o: "snap", s: "/d", d: "/e", t: 5 });
    expect(s.ns.chunks(s.getFile("/e/f"))).toEqual([1, 2]);
    expect(s.chunks.get(2)!.refs).toBe(2);
    expect(s.fileCount).toBe(2);
    s.apply({ o: "handles", n: 200 });
    expect(s.apply({ o: "cow", p: "/d/f", i: 1, h: 150, v: 1 })).toEqual([]);
    expect(s.ns.chunks(s.getFile("/d/f"))).toEqual([1, 150]);
    expect(s.chunks.get(150)).toEqual({ version: 1, sizeBytes: 50, refs: 1 });
    expect(s.chunks.get(2)!.refs).toBe(1);
    expect(s.apply({ o: "rm", p: "/e", t: 6 })).toEqual([2]); // chunk 1 is still /d/f's
    expect(s.chunks.get(1)!.refs).toBe(1);
    expect(() => s.apply({ o: "snap", s: "/d", d: "/d/f", t: 7 })).toThrow(/already exists/);
  });

  test("a snapshot of a tree copies every name (multi-byte ones too, while the name store grows), replication and mtime", () => {
    const { s, apply } = numberedState();
    const paths: string[] = [];
    apply({ o: "mkdir", p: "/src", t: 1 });
    for (let d = 0; d < 3; d++) {
      const dir = `/src/dir-${d}-é日本`;
      apply({ o: "mkdir", p: dir, t: 1 });
      for (let i = 0; i < 400; i++) {
        const p = `${dir}/${"ñ".repeat(40)}-${i}`; // 400 x 3 names of 80+ bytes: the copy outgrows the name store
        apply({ o: "create", p, r: 1 + (i % 5), t: 1000 + i });
        paths.push(p);
      }
    }
    const files = s.fileCount;
    apply({ o: "snap", s: "/src", d: "/copy", t: 9 });
    expect(s.fileCount).toBe(2 * files);
    for (const p of paths) {
      const orig = s.getFile(p);
      const copy = s.getFile(p.replace(/^\/src/, "/copy"));
      expect(copy).not.toBe(orig);
      expect(s.ns.nameOf(copy)).toBe(s.ns.nameOf(orig));
      expect(s.ns.replicationOf(copy)).toBe(s.ns.replicationOf(orig));
      expect(s.ns.mtimeOf(copy)).toBe(s.ns.mtimeOf(orig));
    }
    expect([...s.ns.walk()].filter(([p]) => p.startsWith("/copy/")).length).toBe(paths.length + 3);
  });

  test("a snapshot keeps what its directories say of files below them: replication and skipping the trash", () => {
    const { s, apply } = numberedState();
    apply({ o: "mkdir", p: "/src", t: 1 });
    apply({ o: "mkdir", p: "/src/scratch", t: 1 });
    apply({ o: "mkdir", p: "/src/plain", t: 1 });
    apply({ o: "rep", p: "/src", r: 2 });
    apply({ o: "rep", p: "/src/scratch", r: 1 });
    apply({ o: "notrash", p: "/src/scratch", v: true });
    apply({ o: "snap", s: "/src", d: "/copy", t: 2 });
    const id = (p: string) => s.lookup(p);
    expect(s.ns.replicationOf(id("/copy"))).toBe(2);
    expect(s.ns.replicationOf(id("/copy/scratch"))).toBe(1);
    expect(s.ns.noTrash(id("/copy/scratch"))).toBe(true);
    expect(s.ns.replicationOf(id("/copy/plain"))).toBe(0); // inherits, as /src/plain does
    expect(s.ns.noTrash(id("/copy/plain"))).toBe(false);
    expect(s.ns.noTrash(id("/copy"))).toBe(false);
  });
});
