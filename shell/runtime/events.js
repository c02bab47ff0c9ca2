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

/** @returns {string} */
export function newId() {
  if (typeof globalThis.crypto?.randomUUID === "function") return crypto.randomUUID().replaceAll("-", "");
  return Date.now().toString(16) + Math.random().toString(16).slice(2);
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
