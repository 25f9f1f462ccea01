import { describe, expect, test } from "bun:test";
import type { ArgsDef } from "citty";
import { argsProblem, editDistance } from "../../cli/strict-args";

const ls: ArgsDef = {
  path: { type: "positional", required: false },
  long: { type: "boolean", alias: "l" },
  human: { type: "boolean", alias: "h" },
  json: { type: "boolean" },
  "secret-file": { type: "string" },
  deadline: { type: "string" },
};
const put: ArgsDef = {
  local: { type: "positional", required: true },
  remote: { type: "positional", required: true },
  replication: { type: "string", alias: "r" },
  trash: { type: "boolean", default: true },
};

describe("command-line checking", () => {
  test("known flags in every spelling pass", () => {
    for (const argv of [[], ["/"], ["-l"], ["-lh", "/d"], ["--json"], ["--secret-file", "/s"], ["--secret-file=/s"], ["--deadline", "5s", "/d"], ["--", "--odd-name"]]) {
      expect(argsProblem(ls, argv)).toBeNull();
    }
    expect(argsProblem(put, ["-", "/f", "-r", "2", "--no-trash"])).toBeNull();
    expect(argsProblem(put, ["-", "/f", "-r2"])).toBeNull();
  });

  test("unknown flags are named, with the nearest known one", () => {
    expect(argsProblem(ls, ["--bogus"])).toBe("unknown option '--bogus'");
    expect(argsProblem(ls, ["--jsno"])).toBe("unknown option '--jsno' (did you mean --json?)");
    expect(argsProblem(ls, ["-lx"])).toBe("unknown option '-x'");
    expect(argsProblem(ls, ["--no-deadline"])).toBe("unknown option '--no-deadline' (did you mean --deadline?)");
  });

  test("a flag without its value, and surplus arguments, are problems; a variadic command takes many", () => {
    expect(argsProblem(ls, ["--deadline"])).toBe("option --deadline needs a value");
    expect(argsProblem(ls, ["/a", "/b"])).toBe("unexpected argument '/b' (this command takes one path)");
    expect(argsProblem(ls, ["--deadline", "5s", "/a", "/b"])).toBe("unexpected argument '/b' (this command takes one path)");
    expect(argsProblem(put, ["a", "b", "c"])).toBe("unexpected argument 'c' (this command takes 2 arguments)");
    expect(argsProblem(ls, ["/a", "/b"], { variadic: true })).toBeNull();
    expect(argsProblem({}, ["x"])).toBe("unexpected argument 'x' (this command takes none)");
  });

  test("edit distance counts a swap of neighbours as one edit", () => {
    expect(editDistance("json", "jsno")).toBe(1);
    expect(editDistance("length", "lenght")).toBe(1);
    expect(editDistance("ls", "lss")).toBe(1);
    expect(editDistance("abc", "xyz")).toBe(3);
  });
});

describe("help", () => {
  test("every command's help has one to three examples of itself", async () => {
    const { commands } = await import("../../cli/registry");
    const { examples } = await import("../../cli/examples");
    for (const name of Object.keys(commands)) {
      const ex = examples[name] ?? [];
      expect(ex.length, name).toBeGreaterThanOrEqual(1);
      expect(ex.length, name).toBeLessThanOrEqual(3);
      for (const e of ex) expect(e.startsWith(`gfs ${name}`) || e.includes(`| gfs ${name}`), e).toBe(true);
    }
  });
});
