// Cleanup that must happen however nixway ends: normal return, thrown error, process exit, or
// SIGINT/SIGTERM/SIGHUP (Ctrl-C, a CI job being cancelled). Used for the private directories that
// hold the registry auth file and an image archive, and to stop child processes (skopeo, an image
// stream script) so none outlives nixway still holding credentials.
//
// Cleanups are synchronous (a signal handler cannot await) and run newest first, like `defer`:
// children are stopped before the directories they use are removed.
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

type Cleanup = () => void;

const pending: Cleanup[] = [];
const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
let installed = false;

function runAll(): void {
  while (pending.length) {
    const fn = pending.pop()!;
    try {
      fn();
    } catch {
      /* best effort: one failing cleanup must not keep the others from running */
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  runAll();
  uninstall();
  // Die of the same signal so the parent sees the conventional status (130 for SIGINT, 143 for SIGTERM),
  // unless someone else also handles it, in which case that handler decides.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  for (const s of SIGNALS) process.on(s, onSignal);
  process.on("exit", runAll);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  for (const s of SIGNALS) process.off(s, onSignal);
  process.off("exit", runAll);
}

/** Registers `fn` to run on exit or a terminating signal; returns a function that runs it now (once) and unregisters it. */
export function registerCleanup(fn: Cleanup): () => void {
  let done = false;
  const entry: Cleanup = () => {
    if (done) return;
    done = true;
    fn();
  };
  pending.push(entry);
  install();
  return () => {
    const i = pending.indexOf(entry);
    if (i >= 0) pending.splice(i, 1);
    if (pending.length === 0) uninstall();
    entry();
  };
}

export interface PrivateDir {
  /** Absolute path of a fresh directory only the current user can enter (0700). */
  dir: string;
  /** Removes the directory and everything in it (idempotent). */
  dispose(): void;
}

/** A fresh 0700 directory under the system temp dir, removed by dispose() or on exit/signal at the latest. */
export function makePrivateDir(prefix: string): PrivateDir {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  chmodSync(dir, 0o700); // mkdtemp already makes it 0700; say so explicitly whatever the umask
  const dispose = registerCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, dispose };
}

/** Runs `fn` with a private directory that is removed afterwards, whatever happens. */
export async function withPrivateDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const { dir, dispose } = makePrivateDir(prefix);
  try {
    return await fn(dir);
  } finally {
    dispose();
  }
}

/**
 * An AbortSignal that fires when `parent` does or when nixway is interrupted: passed to child
 * processes so they are killed before the private directories they use are removed.
 */
export function interruptibleSignal(parent?: AbortSignal): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  let released = false;
  const onParent = () => controller.abort(parent?.reason);
  if (parent?.aborted) controller.abort(parent.reason);
  else parent?.addEventListener("abort", onParent, { once: true });
  const unregister = registerCleanup(() => {
    if (!released) controller.abort(new Error("interrupted"));
  });
  return {
    signal: controller.signal,
    release() {
      released = true; // finished normally: unregister without aborting anything
      parent?.removeEventListener("abort", onParent);
      unregister();
    },
  };
}
