// window.tessera: one bus per page, shared by every separately loaded fragment.
// Importable as an ES module ("tessera" in the shell's import map) or read from window.

import { Bus, Core } from "./bus.js";

/**
 * @typedef {object} Connection
 * @property {"connecting" | "open" | "closed"} state
 */
/**
 * @typedef {object} Tessera
 * @property {Bus} bus
 * @property {Connection} connection
 * @property {Promise<void>} ready  resolved when every fragment has settled (mounted or failed)
 */

const INTERNALS = Symbol.for("tessera.internals");

/** @returns {Tessera} */
function create() {
  const core = new Core();
  /** @type {() => void} */
  let settle = () => {};
  const ready = new Promise((resolve) => (settle = () => resolve(undefined)));
  const tessera = { bus: new Bus(core), connection: { state: /** @type {Connection["state"]} */ ("closed") }, ready };
  Object.defineProperty(tessera, INTERNALS, { value: { core, settle } });
  return tessera;
}

/** @type {Tessera} */
export const tessera = (/** @type {any} */ (globalThis).tessera ??= create());
export const bus = tessera.bus;
export const connection = tessera.connection;
export const ready = tessera.ready;

/**
 * For the runtime's own modules: the shared core and the function that resolves `ready`.
 * @returns {{core: Core, settle: () => void}}
 */
export function internals() {
  return /** @type {any} */ (tessera)[INTERNALS];
}
