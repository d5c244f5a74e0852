/**
 * The kernel's SIGINT watcher (a worker thread). Node delivers `process.on("SIGINT")` through the main
 * thread's event loop, which a cell computing synchronously never reaches, so an interrupt from Jupyter
 * (interrupt_mode "signal") would wait for the loop to end by itself. This thread waits inside
 * `vm.runInThisContext(..., { breakOnSigint: true })`, so Node's SIGINT watchdog (a signal handler of its
 * own, process-wide while any such call runs) stops this thread's wait when the signal comes; the thread
 * then sets the shared interrupt flag that every loop of cell code checks and tells the main thread.
 *
 * The wait is nested in an outer breakOnSigint call that never ends: Node restores the default SIGINT
 * action (ending the process) whenever the last watchdog stops, so one must stay registered while the
 * inner one is re-entered after each signal. Setting `stop[0] = 1` ends the thread.
 */
import vm from "vm";
import { parentPort, workerData } from "worker_threads";

const data = workerData as { interruptFlag: Int32Array; stop: Int32Array };
const g = globalThis as any;
g.__lepton_sigint__ = {
  vm,
  wait: () => Atomics.wait(data.stop, 0, 0, 200),
  stopped: () => Atomics.load(data.stop, 0) !== 0,
  signal: () => {
    Atomics.store(data.interruptFlag, 0, 1);
    parentPort!.postMessage("sigint");
  },
};
parentPort!.postMessage("watching");
const outer = `(() => { const s = globalThis.__lepton_sigint__;
    while (!s.stopped()) {
      try { s.vm.runInThisContext("while (!__lepton_sigint__.stopped()) __lepton_sigint__.wait();", { breakOnSigint: true }); }
      catch (e) { if (!s.stopped()) s.signal(); }
    } })()`;
while (!g.__lepton_sigint__.stopped()) {
  try {
    vm.runInThisContext(outer, { breakOnSigint: true });
  } catch {
    // A signal between two inner waits reached the outer one: it is still a signal.
    if (!g.__lepton_sigint__.stopped()) g.__lepton_sigint__.signal();
  }
}
