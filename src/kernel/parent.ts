/**
 * The parent poller (as ipykernel's): the kernel ends when the process that started it dies. Watched:
 * the process in JPY_PARENT_PID (jupyter_client sets it), else the parent this process started with
 * (gone when `process.ppid` changes, i.e. the kernel was re-parented). Polled every
 * LEPTON_PARENT_POLL_MS (default 1000) ms, on the control thread so a busy cell cannot delay it.
 */
export interface ParentWatch {
  pid: number;
  /** True: `pid` came from JPY_PARENT_PID and is checked for existence; false: `process.ppid` must stay it. */
  fromEnv: boolean;
  pollMs: number;
}

export function parentToWatch(env: NodeJS.ProcessEnv = process.env, startParent = process.ppid): ParentWatch | undefined {
  const given = Number(env.JPY_PARENT_PID);
  const fromEnv = Number.isInteger(given) && given > 1;
  const pid = fromEnv ? given : startParent;
  if (!pid || pid <= 1) return undefined;
  return { pid, fromEnv, pollMs: Number(env.LEPTON_PARENT_POLL_MS) || 1000 };
}

export function parentGone(watch: ParentWatch): boolean {
  if (!watch.fromEnv) return process.ppid !== watch.pid;
  try {
    process.kill(watch.pid, 0);
    return false;
  } catch (err: any) {
    return err?.code === "ESRCH";
  }
}

/** Call `gone` once, when the watched parent has ended (polled every `pollMs`; never keeps a thread alive). */
export function whenParentGone(watch: ParentWatch, gone: () => void): void {
  const timer = setInterval(() => {
    if (!parentGone(watch)) return;
    clearInterval(timer);
    gone();
  }, watch.pollMs);
  timer.unref();
}
