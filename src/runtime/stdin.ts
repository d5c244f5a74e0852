/**
 * Asking the user for a value from a cell: `await lepton.input("learning rate? ")`, and
 * `await lepton.password("token: ")` (the frontend hides what is typed).
 *
 * Inside the Lepton kernel the kernel installs a provider that sends Jupyter's `input_request` on the
 * stdin channel and waits for the `input_reply`; a frontend that does not take input (nbclient,
 * `lepton run`, an execute_request with allow_stdin false) gets a clear error instead of a hang. Outside a
 * kernel it reads one line from the terminal (stdin must be a TTY or a pipe). An interrupt ends the wait
 * with InterruptedError. The provider lives on globalThis so every loaded copy of lepton shares it.
 */
import { InterruptedError, onInterrupt } from "./interrupt";

export interface InputRequest {
  prompt: string;
  password: boolean;
}

export type InputProvider = (request: InputRequest) => Promise<string>;

const KEY = Symbol.for("lepton.inputProvider");

/** Install (or with `undefined`, remove) the provider; the kernel does this. */
export function setInputProvider(provider: InputProvider | undefined): void {
  (globalThis as any)[KEY] = provider;
}

/** Thrown when nobody can answer: the frontend allows no input, or there is no terminal. */
export class StdinNotAvailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StdinNotAvailableError";
  }
}

function fromTerminal(request: InputRequest): Promise<string> {
  if (process.stdin.isTTY !== true && process.stdin.readableEnded) {
    return Promise.reject(new StdinNotAvailableError("lepton.input(): standard input is closed; pass the value another way (an argument or an environment variable)."));
  }
  const readline = require("readline") as typeof import("readline");
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY === true && !request.password });
    let answered = false;
    rl.question(request.prompt, (answer) => {
      answered = true;
      rl.close();
      resolve(answer);
    });
    rl.on("close", () => {
      if (!answered) reject(new StdinNotAvailableError("lepton.input(): standard input ended before a line was read."));
    });
  });
}

async function ask(prompt: unknown, password: boolean): Promise<string> {
  const request: InputRequest = { prompt: prompt === undefined ? "" : String(prompt), password };
  const provider = (globalThis as any)[KEY] as InputProvider | undefined;
  let stop: () => void = () => {};
  const interrupted = new Promise<never>((_, reject) => {
    stop = onInterrupt(() => reject(new InterruptedError()));
  });
  interrupted.catch(() => {});
  try {
    return await Promise.race([provider ? provider(request) : fromTerminal(request), interrupted]);
  } finally {
    stop();
  }
}

/** Ask for one line of text (IPython's `input()`); resolves to what the user typed, without the newline. */
export function input(prompt?: string): Promise<string> {
  return ask(prompt, false);
}

/** Ask for a secret (IPython's `getpass()`): the frontend does not show what is typed. */
export function password(prompt = "Password: "): Promise<string> {
  return ask(prompt, true);
}
