/**
 * Cooperative interruption, shared by the kernel (which raises it on Jupyter's interrupt) and by
 * long-running lepton loops (training, lrFind), which check it between steps and stop cleanly.
 * State lives on globalThis so every loaded copy of lepton sees the same flag.
 */
const KEY = Symbol.for("lepton.interrupt");

interface InterruptState {
  requested: boolean;
  listeners: Set<() => void>;
}

function state(): InterruptState {
  const g = globalThis as any;
  if (!g[KEY]) g[KEY] = { requested: false, listeners: new Set() } satisfies InterruptState;
  return g[KEY] as InterruptState;
}

/** Thrown by `throwIfInterrupted` (and by the kernel into awaiting cells). */
export class InterruptedError extends Error {
  constructor(message = "Interrupted by the user (kernel interrupt).") {
    super(message);
    this.name = "InterruptedError";
  }
}

/** True once an interrupt has arrived and until the kernel clears it for the next cell. */
export function interruptRequested(): boolean {
  return state().requested;
}

/** Raise the flag and call listeners (the kernel does this on interrupt_request or SIGINT). */
export function requestInterrupt(): void {
  const s = state();
  s.requested = true;
  for (const listener of [...s.listeners]) {
    try {
      listener();
    } catch {
      /* a listener must not stop the others */
    }
  }
}

/** Lower the flag (the kernel does this before each execution). */
export function clearInterrupt(): void {
  state().requested = false;
}

/** Call `listener` when an interrupt arrives; returns a function that removes it. */
export function onInterrupt(listener: () => void): () => void {
  const s = state();
  s.listeners.add(listener);
  return () => s.listeners.delete(listener);
}

export function throwIfInterrupted(): void {
  if (interruptRequested()) throw new InterruptedError();
}
