// cart fragment: pure rendering (state in, HTML out). Mirrors src/cart.html.

/**
 * @typedef {{sku: string, name: string, price: number, qty: number, max?: number}} Item  max: stock cap
 * @typedef {{subtotal: number, total: number, shipping?: number, vat?: number,
 *            vat_rate?: number, free_shipping_over?: number, items?: any[]}} Quote  items: as the server priced them
 * @typedef {{kind: "idle"} | {kind: "pending"} | {kind: "confirmed", orderId: any, total: number}
 *           | {kind: "failed", reason?: string}} Status
 */

const money = new Intl.NumberFormat("en-IE", { style: "currency", currency: "EUR" });

/** @param {number} x */
export const eur = (x) => money.format(x);

/** @param {unknown} s */
export const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** @param {Item[]} items */
export const countOf = (items) => items.reduce((n, i) => n + i.qty, 0);

/** @param {Item[]} items @returns {Quote} local math, used when the server cannot price */
export function localQuote(items) {
  const cents = items.reduce((sum, i) => sum + Math.round(i.price * 100) * i.qty, 0);
  return { subtotal: cents / 100, total: cents / 100 };
}

/** @param {Item} i @param {boolean} bumped */
function line(i, bumped) {
  const n = esc(i.name);
  const sku = esc(i.sku);
  return `<li class="cart-line${bumped ? " is-bumped" : ""}" data-sku="${sku}">
    <span class="cart-thumb" aria-hidden="true">${esc(i.name.slice(0, 1))}</span>
    <div class="cart-line-main"><p class="cart-line-name">${n}</p>
      <p class="cart-line-each">${eur(i.price)} each</p></div>
    <p class="cart-line-total">${eur(i.price * i.qty)}</p>
    <div class="cart-qty">
      <button type="button" data-action="dec" data-sku="${sku}" aria-label="One less ${n}">−</button>
      <span aria-label="Quantity">${i.qty}</span>
      <button type="button" data-action="inc" data-sku="${sku}" aria-label="One more ${n}"${i.qty >= Math.min(i.max ?? 99, 99) ? " disabled" : ""}>+</button>
    </div>
    <button type="button" class="cart-remove" data-action="remove" data-sku="${sku}" aria-label="Remove ${n}">Remove</button>
  </li>`;
}

/** @param {Quote} q */
function shipping(q) {
  if (!q.free_shipping_over) return "";
  const missing = q.free_shipping_over - q.subtotal;
  const pct = Math.min(100, (q.subtotal / q.free_shipping_over) * 100).toFixed(1);
  const text = missing > 0
    ? `Add <strong>${eur(missing)}</strong> more for free shipping`
    : "Free shipping unlocked ✓";
  return `<div class="cart-ship"><p>${text}</p>
    <progress class="cart-ship-bar" max="100" value="${pct}" aria-hidden="true"></progress></div>`;
}

/** @param {Quote} q */
function totals(q) {
  const ship = q.shipping === undefined ? "at checkout" : q.shipping === 0 ? "Free" : eur(q.shipping);
  const vat = q.vat === undefined ? ""
    : `<div class="cart-vat"><dt>incl. VAT ${Math.round((q.vat_rate ?? 0) * 100)}%</dt><dd>${eur(q.vat)}</dd></div>`;
  return `<dl class="cart-totals">
    <div><dt>Subtotal</dt><dd>${eur(q.subtotal)}</dd></div>
    <div><dt>Shipping</dt><dd>${ship}</dd></div>${vat}
    <div class="cart-total"><dt>Total</dt><dd>${eur(q.total)}</dd></div></dl>`;
}

const EMPTY_ICON = `<svg viewBox="0 0 64 64" aria-hidden="true"><path d="M14 24h36l-3 26a5 5 0 0 1-5 4H22a5 5 0 0 1-5-4z" fill="currentColor" opacity=".14"/><path d="M14 24h36l-3 26a5 5 0 0 1-5 4H22a5 5 0 0 1-5-4z" fill="none" stroke="currentColor" stroke-width="2.4" stroke-linejoin="round"/><path d="M24 24v-4a8 8 0 0 1 16 0v4" fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round"/><ellipse cx="32" cy="39" rx="4.5" ry="6.5" transform="rotate(28 32 39)" fill="currentColor"/></svg>`;

const CHECK_ICON = `<svg viewBox="0 0 48 48" aria-hidden="true"><circle cx="24" cy="24" r="22" fill="currentColor"/><path d="m14 25 7 7 13-15" fill="none" stroke="#fff" stroke-width="4" stroke-linecap="round" stroke-linejoin="round"/></svg>`;

/**
 * The cart's body for the current state.
 * @param {{items: Item[], quote: Quote, status: Status, bumped: string|null}} s
 */
export function view({ items, quote, status, bumped }) {
  if (status.kind === "confirmed") {
    return `<div class="cart-confirmed" role="status">${CHECK_ICON}
      <p><strong>Order #${esc(status.orderId)} confirmed</strong></p>
      <p>${eur(status.total)} · we'll roast it tomorrow morning and email you tracking.</p></div>`;
  }
  const note = status.kind === "failed"
    ? `<p class="cart-note" role="alert">${esc(status.reason ?? "We couldn't reach the roastery. Please try again.")}</p>`
    : "";
  if (!items.length) {
    return `${note}<div class="cart-empty">${EMPTY_ICON}<p><strong>Your cart is empty</strong></p>
      <p>Pick a roast you like — it will wait here, in every tab.</p></div>`;
  }
  const pending = status.kind === "pending";
  return `<ul class="cart-lines">${items.map((i) => line(i, i.sku === bumped)).join("")}</ul>
    ${shipping(quote)}${totals(quote)}${note}
    <button type="button" class="cart-checkout" data-action="checkout"${pending ? " disabled" : ""}>
      ${pending ? '<span class="cart-spinner" aria-hidden="true"></span>Placing order…' : "Checkout"}</button>
    <button type="button" class="cart-clear" data-action="clear"${pending ? " disabled" : ""}>Empty cart</button>`;
}
