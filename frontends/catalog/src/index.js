// @ts-check  (types: shell/runtime/types.d.ts; tsc -p tsconfig.json checks this file)
// catalog fragment: the product grid is rendered on the server; this module adds
// "Add to cart", the filter chips and live stock badges. It never touches other fragments.

/**
 * @typedef {{sku: string, name: string, price: number, stock: number, kind: string}} Product
 * @typedef {import("../../../shell/runtime/types").TesseraEvent<any>} TesseraEvent
 * @typedef {import("../../../shell/runtime/types").FragmentContext<{products?: Product[]}>} Ctx
 */

const ADDED_FEEDBACK_MS = 1200;

/** @param {number} n */
function stockLabel(n) {
  if (n <= 0) return "Sold out";
  if (n <= 5) return `Only ${n} left`;
  return `${n} in stock`;
}

/** @param {number} n */
const stockLevel = (n) => (n <= 0 ? "out" : n <= 5 ? "low" : "ok");

/**
 * @param {HTMLElement} el
 * @param {Ctx} ctx
 */
export function mount(el, ctx) {
  /** @type {Map<string, Product>} */
  const products = new Map((ctx.props?.products ?? []).map((p) => [p.sku, p]));
  /** @type {Set<ReturnType<typeof setTimeout>>} */
  const timers = new Set();

  /** @param {string} sku */
  const card = (sku) =>
    /** @type {HTMLElement|null} */ (el.querySelector(`.catalog-card[data-sku="${CSS.escape(sku)}"]`));

  /**
   * Show a new stock level on the card; flash the badge when it really changed.
   * @param {string} sku
   * @param {number} stock
   */
  function setStock(sku, stock) {
    const c = card(sku);
    const badge = c?.querySelector(".catalog-stock");
    const button = /** @type {HTMLButtonElement|null|undefined} */ (c?.querySelector(".catalog-add"));
    if (!c || !badge || !button || !Number.isInteger(stock)) return;
    const product = products.get(sku);
    if (product) product.stock = stock;
    if (badge.getAttribute("data-stock") === String(stock)) return;
    badge.setAttribute("data-stock", String(stock));
    badge.setAttribute("data-level", stockLevel(stock));
    badge.textContent = stockLabel(stock);
    badge.classList.remove("is-changed");
    void (/** @type {HTMLElement} */ (badge).offsetWidth); // restart the flash
    badge.classList.add("is-changed");
    c.classList.toggle("is-soldout", stock <= 0);
    button.disabled = stock <= 0;
    const label = button.querySelector(".catalog-add-label");
    if (label && !button.classList.contains("is-added")) {
      label.textContent = stock <= 0 ? "Sold out" : "Add to cart";
    }
  }

  /** @param {HTMLButtonElement} button */
  function add(button) {
    const product = products.get(button.dataset.sku ?? "");
    if (!product || product.stock <= 0) return;
    ctx.bus.publish("cart.item.added", {
      sku: product.sku, name: product.name, price: product.price, qty: 1,
    });
    const label = button.querySelector(".catalog-add-label");
    button.classList.add("is-added");
    if (label) label.textContent = "Added ✓";
    const t = setTimeout(() => {
      timers.delete(t);
      button.classList.remove("is-added");
      if (label) label.textContent = product.stock <= 0 ? "Sold out" : "Add to cart";
    }, ADDED_FEEDBACK_MS);
    timers.add(t);
  }

  /** @param {string} kind "all" | "beans" | "gear" */
  function filter(kind) {
    el.querySelectorAll(".catalog-chip").forEach((chip) => {
      const on = chip.getAttribute("data-filter") === kind;
      chip.classList.toggle("is-active", on);
      chip.setAttribute("aria-pressed", String(on));
    });
    el.querySelectorAll(".catalog-card").forEach((c) => {
      /** @type {HTMLElement} */ (c).hidden = kind !== "all" && c.getAttribute("data-kind") !== kind;
    });
  }

  /** @param {MouseEvent} e */
  function onClick(e) {
    const target = /** @type {HTMLElement} */ (e.target).closest("[data-action]");
    if (!(target instanceof HTMLButtonElement) || !el.contains(target)) return;
    if (target.dataset.action === "add") add(target);
    if (target.dataset.action === "filter") filter(target.dataset.filter ?? "all");
  }

  /** @param {TesseraEvent} event */
  function onStockChanged(event) {
    const d = event.data;
    if (d && typeof d.sku === "string") setStock(d.sku, d.stock);
  }

  /** Catch up with stock changes missed between the server render and now. */
  async function refreshStock() {
    try {
      const stock = await ctx.bus.request("catalog.stock", {}, { timeout: 4000 });
      for (const [sku, n] of Object.entries(stock ?? {})) setStock(sku, n);
    } catch {
      // The server render is a fine answer too; live events will follow.
    }
  }

  el.addEventListener("click", onClick);
  ctx.bus.subscribe("stock.changed", onStockChanged);
  ctx.bus.subscribe("tessera.resync", refreshStock);
  refreshStock();

  return () => {
    el.removeEventListener("click", onClick);
    timers.forEach(clearTimeout);
  };
}
