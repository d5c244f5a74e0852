/** The benchmarks' command-line options: `arg("--epochs")` is the value after `--epochs`, or undefined. */
export function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : undefined;
}
