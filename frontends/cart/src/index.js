// @ts-check  (types: shell/runtime/types.d.ts; tsc -p tsconfig.json checks this file)
// cart fragment: state and bus wiring. Rendering lives in ./view.js.
//
// Every change to the cart is an event. Buttons only publish; the subscriptions apply.
// A tab's own events are delivered to it exactly once (synchronously), and the same
// user's other tabs receive them through the server, so all tabs converge and nothing
// is applied twice.

import { view, localQuote, countOf } from "./view.js";

/**
 * @typedef {import("./view.js").Item} Item
 * @typedef {import("./view.js").Quote} Quote
 * @typedef {import("./view.js").Status} Status
 * @typedef {import("../../../shell/runtime/types").TesseraEvent<any>} TesseraEvent
 * @typedef {import("../../../shell/runtime/types").FragmentContext<{items?: Item[], quote?: Quote}>} Ctx
 */

const CONFIRMED_MS = 6000;
const CHECKOUT_TIMEOUT_MS = 10000;
const MAX_QTY = 99;

/** @param {any} d @returns {Item|null} */
function toItem(d) {
  if (!d || typeof d.sku !== "string" || typeof d.price !== "number") return null;
  const qty = Number.isInteger(d.qty) && d.qty > 0 ? Math.min(d.qty, MAX_QTY) : 1;
  /** @type {Item} */
  const item = { sku: d.sku, name: String(d.name ?? d.sku), price: d.price, qty };
  if (Number.isInteger(d.max)) item.max = d.max;
  return item;
}

/**
 * The lines as the server priced them: its name, price and stock cap win over what this page
 * was told (the server prices from the catalog; a page's prices are only for show).
 * @param {Item[]} items @param {any[]} priced
 */
function reconcile(items, priced) {
  const server = new Map(priced.map(toItem).filter((i) => i !== null).map((i) => [i.sku, i]));
  return items.map((i) => {
    const line = server.get(i.sku);
    return line ? { ...i, name: line.name, price: line.price, qty: line.qty, max: line.max } : i;
  });
}

/** A selector that finds "the same" button after a re-render. @param {HTMLElement} b */
function focusKey(b) {
  const action = b.dataset.action;
  if (!action) return null;
  const sku = b.dataset.sku;
  return `[data-action="${action}"]` + (sku ? `[data-sku="${CSS.escape(sku)}"]` : "");
}

/**
 * @param {HTMLElement} el
 * @param {Ctx} ctx
 */
export function mount(el, ctx) {
  const bus = ctx.bus;
  const body = /** @type {HTMLElement} */ (el.querySelector(".cart-body"));
  const count = /** @type {HTMLElement} */ (el.querySelector(".cart-count"));
  const s = {
    /** @type {Item[]} */ items: (ctx.props?.items ?? []).map(toItem).filter((i) => i !== null),
    /** @type {Quote} */ quote: ctx.props?.quote ?? { subtotal: 0, total: 0 },
    /** @type {Status} */ status: { kind: "idle" },
    /** @type {string|null} */ bumped: null,
    version: 0, // bumps on every local change, so stale answers can be ignored
    /** @type {string|null} */ checkoutId: null,
  };
  /** @type {ReturnType<typeof setTimeout>|undefined} */
  let statusTimer;

  /** Re-render the body, keeping keyboard focus on the same button if it still exists. */
  function render() {
    const focused = document.activeElement;
    const keep = focused instanceof HTMLElement && body.contains(focused) ? focusKey(focused) : null;
    body.innerHTML = view(s);
    const n = countOf(s.items);
    count.textContent = `${n} item${n === 1 ? "" : "s"}`;
    if (keep) /** @type {HTMLElement|null} */ (body.querySelector(keep))?.focus();
  }

  /** Ask the server for totals; fall back to local math, silently. */
  async function requote() {
    const v = s.version;
    const items = s.items.map(({ sku, name, price, qty }) => ({ sku, name, price, qty }));
    /** @type {Quote} */
    let quote;
    try {
      quote = await bus.request("pricing.quote", { items }, { timeout: 3000 });
      if (typeof quote?.total !== "number") throw new Error("bad quote");
    } catch {
      quote = localQuote(s.items);
    }
    if (v !== s.version) return; // the cart changed meanwhile; a newer quote is on its way
    if (Array.isArray(quote.items)) s.items = reconcile(s.items, quote.items);
    s.quote = quote;
    render();
  }

  /**
   * Apply a change to the lines; line totals show at once, totals follow from the server.
   * @param {(items: Item[]) => Item[]} change @param {string|null} [bumped]
   */
  function update(change, bumped = null) {
    s.items = change(s.items);
    s.version += 1;
    s.bumped = bumped;
    render();
    requote();
  }

  /** @param {TesseraEvent} e */
  function onCartEvent(e) {
    const d = e.data ?? {};
    const sku = typeof d.sku === "string" ? d.sku : null;
    if (e.type === "cart.item.added") {
      const item = toItem(d);
      if (!item) return;
      update((items) => items.some((i) => i.sku === item.sku)
        ? items.map((i) => i.sku === item.sku ? { ...i, qty: Math.min(i.qty + item.qty, MAX_QTY) } : i)
        : [...items, item], item.sku);
      if (s.status.kind === "confirmed") setStatus({ kind: "idle" });
    } else if (e.type === "cart.item.quantity" && sku && Number.isInteger(d.qty) && d.qty > 0) {
      update((items) => items.map((i) => i.sku === sku ? { ...i, qty: Math.min(d.qty, MAX_QTY) } : i));
    } else if (e.type === "cart.item.removed" && sku) {
      update((items) => items.filter((i) => i.sku !== sku));
    } else if (e.type === "cart.cleared") {
      update(() => []);
    }
  }

  /** @param {Status} status @param {number} [resetAfter] */
  function setStatus(status, resetAfter) {
    clearTimeout(statusTimer);
    s.status = status;
    if (status.kind !== "pending") s.checkoutId = null;
    if (resetAfter) statusTimer = setTimeout(() => setStatus({ kind: "idle" }), resetAfter);
    render();
  }

  /** @param {TesseraEvent} e */
  function onConfirmed(e) {
    const d = e.data ?? {};
    const total = typeof d.total === "number" ? d.total : s.quote.total;
    s.items = [];
    s.version += 1;
    s.quote = { subtotal: 0, total: 0 };
    setStatus({ kind: "confirmed", orderId: d.order_id ?? "", total }, CONFIRMED_MS);
  }

  /** A rejected checkout (schema, limits…) comes back as tessera.error. @param {TesseraEvent} e */
  function onError(e) {
    if (s.checkoutId && e.data?.event_id === s.checkoutId) setStatus({ kind: "failed" });
  }

  /**
   * The catalog could not supply a line: this tab (the one that asked) fixes the cart for every
   * tab and says why. @param {TesseraEvent} e
   */
  function onRefused(e) {
    if (s.status.kind !== "pending") return;
    const d = e.data ?? {};
    const item = s.items.find((i) => i.sku === d.sku);
    const name = String(item?.name ?? d.name ?? "An item");
    const available = Number.isInteger(d.available) && d.available > 0 ? d.available : 0;
    setStatus({ kind: "failed", reason: available
      ? `Only ${available} left of ${name}: we've updated your cart.`
      : `${name} is sold out: we've taken it out of your cart.` });
    if (item && available) bus.publish("cart.item.quantity", { sku: item.sku, qty: Math.min(available, MAX_QTY) });
    else if (item) bus.publish("cart.item.removed", { sku: item.sku });
  }

  /** After a gap in the event stream, the server's copy of the cart is the truth. */
  async function resync() {
    const v = s.version;
    try {
      const answer = await bus.request("cart.get", {}, { timeout: 4000 });
      if (v !== s.version || !Array.isArray(answer?.items)) return;
      s.items = answer.items.map(toItem).filter((/** @type {Item|null} */ i) => i !== null);
      render();
      requote();
    } catch {
      // Keep what we have; the next event or reload will fix it.
    }
  }

  function checkout() {
    if (!s.items.length || s.status.kind === "pending") return;
    const items = s.items.map(({ sku, name, price, qty }) => ({ sku, name, price, qty }));
    setStatus({ kind: "pending" });
    s.checkoutId = bus.publish("checkout.requested", { items, total: s.quote.total }).id;
    statusTimer = setTimeout(() => {
      if (s.status.kind === "pending") setStatus({ kind: "failed" });
    }, CHECKOUT_TIMEOUT_MS);
  }

  /** @param {MouseEvent} e */
  function onClick(e) {
    const b = /** @type {HTMLElement} */ (e.target).closest("button[data-action]");
    if (!(b instanceof HTMLButtonElement) || !el.contains(b)) return;
    const sku = b.dataset.sku ?? "";
    const item = s.items.find((i) => i.sku === sku);
    switch (b.dataset.action) {
      case "inc":
        if (item && item.qty < Math.min(item.max ?? MAX_QTY, MAX_QTY)) {
          bus.publish("cart.item.quantity", { sku, qty: item.qty + 1 });
        }
        break;
      case "dec":
        if (item && item.qty > 1) bus.publish("cart.item.quantity", { sku, qty: item.qty - 1 });
        else if (item) bus.publish("cart.item.removed", { sku });
        break;
      case "remove": if (item) bus.publish("cart.item.removed", { sku }); break;
      case "clear": bus.publish("cart.cleared", {}); break;
      case "checkout": checkout(); break;
    }
  }

  el.addEventListener("click", onClick);
  bus.subscribe("cart.>", onCartEvent);
  bus.subscribe("order.confirmed", onConfirmed);
  bus.subscribe("order.refused", onRefused);
  bus.subscribe("tessera.error", onError);
  bus.subscribe("tessera.resync", resync);
  render();
  resync(); // events between the server render and this subscription would be lost otherwise

  return () => {
    clearTimeout(statusTimer);
    el.removeEventListener("click", onClick);
  };
}
