// The command line is checked before a command runs: an unknown flag or a
// surplus argument is bad usage (status 2) with a suggestion for a near miss,
// never silently ignored (citty accepts anything). Pure.
import type { ArgsDef } from "citty";

export interface ArgsShape {
  /** Whether the last positional takes any number of values (`gfs rm /a /b`). */
  variadic?: boolean;
}

/** The first problem with `rawArgs` for a command with `args`, or null. */
export function argsProblem(args: ArgsDef, rawArgs: readonly string[], shape: ArgsShape = {}): string | null {
  const long = new Map<string, { type: string }>();
  const short = new Map<string, { type: string; name: string }>();
  let positionals = 0;
  for (const [name, def] of Object.entries(args)) {
    const type = def.type ?? "string";
    if (type === "positional") {
      positionals++;
      continue;
    }
    long.set(name, { type });
    long.set(kebab(name), { type });
    const aliases = "alias" in def && def.alias !== undefined ? (Array.isArray(def.alias) ? def.alias : [def.alias]) : [];
    for (const a of aliases) {
      if (a.length === 1) short.set(a, { type, name });
      else long.set(a, { type });
    }
  }
  let given = 0;
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") {
      given += rawArgs.length - i - 1;
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      let def = long.get(name);
      if (!def && name.startsWith("no-") && long.get(name.slice(3))?.type === "boolean" && eq < 0) continue;
      if (!def) return unknown(`--${name}`, [...long.keys()].map((k) => `--${k}`));
      if (def.type === "string" && eq < 0) {
        if (i + 1 >= rawArgs.length) return `option --${name} needs a value`;
        i++;
      }
      continue;
    }
    if (arg.startsWith("-") && arg.length > 1 && !/^-\d/.test(arg)) {
      // -l, -lh (booleans together), -o VALUE
      const letters = arg.slice(1);
      for (let j = 0; j < letters.length; j++) {
        const def = short.get(letters[j]!);
        if (!def) return unknown(`-${letters[j]}`, [...short.keys()].map((k) => `-${k}`));
        if (def.type === "string") {
          if (j < letters.length - 1) break; // -oVALUE
          if (i + 1 >= rawArgs.length) return `option -${letters[j]} needs a value`;
          i++;
        }
      }
      continue;
    }
    given++;
  }
  if (given > positionals && !(shape.variadic && positionals > 0)) {
    const extra = positionalValues(args, rawArgs)[positionals]!;
    return positionals === 0 ? `unexpected argument '${extra}' (this command takes none)` : `unexpected argument '${extra}' (this command takes ${positionals === 1 ? "one path" : `${positionals} arguments`})`;
  }
  return null;
}

/** The positional values of `rawArgs`, in order. */
function positionalValues(args: ArgsDef, rawArgs: readonly string[]): string[] {
  const takesValue = new Set<string>();
  for (const [name, def] of Object.entries(args)) {
    if ((def.type ?? "string") !== "string") continue;
    takesValue.add(`--${name}`).add(`--${kebab(name)}`);
    const aliases = "alias" in def && def.alias !== undefined ? (Array.isArray(def.alias) ? def.alias : [def.alias]) : [];
    for (const a of aliases) takesValue.add(a.length === 1 ? `-${a}` : `--${a}`);
  }
  const out: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i]!;
    if (a === "--") return out.concat(rawArgs.slice(i + 1));
    if (a.startsWith("-") && a.length > 1 && !/^-\d/.test(a)) {
      if (!a.includes("=") && takesValue.has(a)) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

function unknown(flag: string, known: string[]): string {
  // One letter is as near to every other: only long names get a suggestion.
  const near = !flag.startsWith("--") ? undefined : known
    .map((k) => ({ k, d: editDistance(flag, k) }))
    .filter(({ d }) => d <= Math.max(1, Math.floor(flag.length / 3)))
    .sort((a, b) => a.d - b.d)[0];
  return `unknown option '${flag}'${near ? ` (did you mean ${near.k}?)` : ""}`;
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit (--jsno -> --json). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
