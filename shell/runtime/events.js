// CloudEvents 1.0 envelopes, as the bus creates them.

/**
 * @typedef {object} TesseraEvent
 * @property {"1.0"} specversion
 * @property {string} id
 * @property {string} type
 * @property {string} source
 * @property {string} time
 * @property {any} data
 * @property {number} [seq]
 * @property {string} [epoch]
 */

const PAGE = typeof globalThis.crypto?.randomUUID === "function"
  ? crypto.randomUUID().replaceAll("-", "")
  : Array.from({ length: 4 }, () => Math.random().toString(16).slice(2, 10)).join("");
let counter = 0;

/**
 * A unique event id: a random 128-bit prefix per page load and a counter (no UUID per event).
 * @returns {string}
 */
export function newId() {
  return PAGE + (++counter).toString(36);
}

/**
 * @param {string} type
 * @param {any} data
 * @param {string} source
 * @returns {TesseraEvent}
 */
export function createEvent(type, data, source) {
  return {
    specversion: "1.0",
    id: newId(),
    type,
    source,
    time: new Date().toISOString(),
    data: data === undefined ? null : data,
  };
}
