// How to start this same program again (for helper processes): the compiled
// executable runs itself; under `bun` the script path comes along.
export function selfArgv(): string[] {
  const script = process.argv[1];
  if (script && !script.startsWith("/$bunfs/") && !script.startsWith("B:/~BUN/") && /\.(ts|js|mjs)$/.test(script)) {
    return [process.execPath, script];
  }
  return [process.execPath];
}
