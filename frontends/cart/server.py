"""Cart fragment, server side: carts per user, pricing and checkout — without trusting the page.

Every tab of a user publishes the same ``cart.*`` events (scope ``user``); this module
applies them to a per-user cart so a new tab renders the cart on the server and a
reconnecting tab can ask ``cart.get`` after ``tessera.resync``.

A page says *what* the shopper wants: SKUs and quantities. The ``price`` and ``name`` it sends
along (in ``cart.item.added`` and ``checkout.requested``) are for its own display and are
ignored here: prices, names and stock come from the catalog's server code, and only from
events whose source is ``/server/catalog`` (a page cannot publish as the server):

- ``catalog.products``: the price list (asked for with ``catalog.products.wanted`` at start-up,
  in case the catalog started first); ``stock.changed`` keeps its stock current. Quotes and
  server-rendered carts are priced from it, quantities capped by stock.
- Checkout: ``checkout.requested`` -> ``order.requested`` (SKUs and quantities) to the catalog,
  which reserves all of it or nothing -> ``order.reserved`` (with the catalog's prices): clear
  the cart, then ``order.confirmed`` and ``notify.new`` to that user and ``order.placed`` to
  everyone (the activity ticker shows it); or ``order.refused`` (the page says what is short).
"""

from __future__ import annotations

import itertools
import random
import threading
from collections import OrderedDict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

VAT_RATE = Decimal("0.21")  # prices include VAT
SHIPPING = Decimal("4.90")
FREE_SHIPPING_OVER = Decimal("40.00")
MAX_QTY = 99
MAX_PENDING = 1000  # orders waiting for the catalog's answer
CITIES = ["Lisbon", "Ghent", "Utrecht", "Lyon", "Bologna", "Porto", "Tallinn", "Kraków",
          "Valencia", "Leipzig", "Bergen", "Graz"]
CENT = Decimal("0.01")


def _money(value: Decimal) -> float:
    return float(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _quantity(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


def wanted(items: Any) -> dict[str, int]:
    """SKU -> quantity asked for by a page's list of lines (anything else in them is ignored)."""
    lines: dict[str, int] = {}
    for item in items if isinstance(items, list) else []:
        sku, qty = (item.get("sku"), _quantity(item.get("qty"))) if isinstance(item, dict) else (None, None)
        if isinstance(sku, str) and qty:
            lines[sku] = min(lines.get(sku, 0) + qty, MAX_QTY)
    return lines


class PriceList:
    """The catalog's products as its server code announced them: name, price, stock per SKU."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._products: dict[str, dict[str, Any]] = {}

    def replace(self, products: Any) -> None:
        known = {}
        for p in products if isinstance(products, list) else []:
            if (isinstance(p, dict) and isinstance(p.get("sku"), str) and isinstance(p.get("name"), str)
                    and isinstance(p.get("price"), (int, float)) and isinstance(p.get("stock"), int)):
                known[p["sku"]] = {"name": p["name"], "price": float(p["price"]), "stock": p["stock"]}
        with self._lock:
            self._products = known

    def set_stock(self, sku: Any, stock: Any) -> None:
        with self._lock:
            if sku in self._products and isinstance(stock, int):
                self._products[sku]["stock"] = stock

    def limit(self, sku: str) -> int | None:
        """How many of ``sku`` one cart may hold now (None: not a product)."""
        with self._lock:
            product = self._products.get(sku)
            return None if product is None else min(MAX_QTY, product["stock"])

    def priced(self, lines: dict[str, int]) -> list[dict[str, Any]]:
        """Cart lines with the catalog's name and price, quantities capped by stock (``max``);
        SKUs the catalog does not sell are left out."""
        with self._lock:
            products = {sku: dict(self._products[sku]) for sku in lines if sku in self._products}
        result = []
        for sku, qty in lines.items():
            if sku in products:
                most = min(MAX_QTY, products[sku]["stock"])
                result.append({"sku": sku, "name": products[sku]["name"], "price": products[sku]["price"],
                               "qty": min(qty, most) if most >= 1 else qty, "max": most})
        return result


def quote(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals for priced cart lines, in EUR, VAT included."""
    subtotal = sum((Decimal(str(i["price"])) * i["qty"] for i in items), Decimal(0))
    shipping = Decimal(0) if not items or subtotal >= FREE_SHIPPING_OVER else SHIPPING
    total = subtotal + shipping
    vat = total * VAT_RATE / (1 + VAT_RATE)
    return {
        "currency": "EUR",
        "subtotal": _money(subtotal),
        "shipping": _money(shipping),
        "vat": _money(vat),
        "vat_rate": float(VAT_RATE),
        "total": _money(total),
        "free_shipping_over": _money(FREE_SHIPPING_OVER),
        "count": sum(i["qty"] for i in items),
    }


class CartStore:
    """Carts keyed by user id (SKU -> quantity); every method is safe to call from worker threads."""

    def __init__(self, prices: PriceList) -> None:
        self._lock = threading.Lock()
        self._carts: dict[str, dict[str, int]] = {}
        self._prices = prices

    def lines(self, user: str | None) -> dict[str, int]:
        with self._lock:
            return dict(self._carts.get(user or "", {}))

    def add(self, user: str | None, sku: Any, qty: Any) -> None:
        limit = self._prices.limit(sku) if isinstance(sku, str) else None
        if not limit or not _quantity(qty):
            return  # not a product, or sold out
        with self._lock:
            cart = self._carts.setdefault(user or "", {})
            cart[sku] = min(cart.get(sku, 0) + qty, limit)

    def set_qty(self, user: str | None, sku: Any, qty: Any) -> None:
        limit = self._prices.limit(sku) if isinstance(sku, str) else None
        if limit is None or not _quantity(qty):
            return
        with self._lock:
            cart = self._carts.get(user or "", {})
            if sku in cart:
                cart[sku] = min(qty, max(limit, 1))

    def remove(self, user: str | None, sku: Any) -> None:
        with self._lock:
            self._carts.get(user or "", {}).pop(sku, None)

    def clear(self, user: str | None) -> None:
        with self._lock:
            self._carts.pop(user or "", None)


def _data(event: Any) -> dict[str, Any]:
    return event.data if isinstance(event.data, dict) else {}


def _from_catalog(event: Any) -> bool:
    """Published by the catalog's server code: the only source of prices and stock trusted here."""
    return event.source == "/server/catalog"


def setup(fragment: Any) -> None:
    prices = PriceList()
    store = CartStore(prices)
    order_ids = itertools.count(1042)
    lock = threading.Lock()
    pending: OrderedDict[int, str] = OrderedDict()  # order id -> user, until the catalog answers

    @fragment.props
    def cart_props() -> dict[str, Any]:
        items = prices.priced(store.lines(fragment.current_user()))
        return {"items": items, "quote": quote(items)}

    @fragment.bus.subscribe("catalog.products")
    def on_products(event: Any) -> None:
        if _from_catalog(event):
            prices.replace(_data(event).get("products"))

    @fragment.bus.subscribe("stock.changed")
    def on_stock(event: Any) -> None:
        if _from_catalog(event):
            prices.set_stock(_data(event).get("sku"), _data(event).get("stock"))

    @fragment.bus.subscribe("cart.item.added")
    def on_added(event: Any) -> None:
        store.add(event.user, _data(event).get("sku"), _data(event).get("qty", 1))

    @fragment.bus.subscribe("cart.item.quantity")
    def on_quantity(event: Any) -> None:
        store.set_qty(event.user, _data(event).get("sku"), _data(event).get("qty"))

    @fragment.bus.subscribe("cart.item.removed")
    def on_removed(event: Any) -> None:
        store.remove(event.user, _data(event).get("sku"))

    @fragment.bus.subscribe("cart.cleared")
    def on_cleared(event: Any) -> None:
        store.clear(event.user)

    @fragment.bus.respond("cart.get")
    def get_cart(event: Any) -> dict[str, Any]:
        return {"items": prices.priced(store.lines(event.user))}

    @fragment.bus.respond("pricing.quote")
    def pricing_quote(event: Any) -> dict[str, Any]:
        """Totals for the lines the page shows (or the user's cart), at the catalog's prices; the
        priced lines come back too, so the page shows what will be charged."""
        data = _data(event)
        items = prices.priced(wanted(data["items"]) if "items" in data else store.lines(event.user))
        return quote(items) | {"items": items}

    @fragment.bus.subscribe("checkout.requested")
    def on_checkout(event: Any) -> None:
        # The lines the shopper saw (their prices ignored); the server's copy covers a bare request.
        lines = wanted(_data(event).get("items")) or store.lines(event.user)
        if not lines or event.user is None:
            return
        with lock:
            order_id = next(order_ids)
            pending[order_id] = event.user
            while len(pending) > MAX_PENDING:
                pending.popitem(last=False)
        items = [{"sku": sku, "qty": qty} for sku, qty in lines.items()]
        fragment.bus.publish("order.requested", {"order_id": order_id, "items": items}, user=event.user)

    def settle(event: Any) -> int | None:
        """The order the catalog answers about, if it is one this cart asked for that user."""
        order_id = _data(event).get("order_id")
        if not _from_catalog(event) or not isinstance(order_id, int):
            return None
        with lock:
            if pending.get(order_id) != event.user:
                return None
            del pending[order_id]
        return order_id

    @fragment.bus.subscribe("order.reserved")
    def on_reserved(event: Any) -> None:
        order_id = settle(event)
        if order_id is None:
            return
        items = [{"sku": i["sku"], "name": i["name"], "price": i["price"], "qty": i["qty"]}
                 for i in _data(event).get("items", [])]
        store.clear(event.user)
        totals = quote(items)
        count = totals["count"]
        fragment.bus.publish(
            "order.confirmed",
            {"order_id": order_id, "total": totals["total"], "items": items},
            user=event.user,
        )
        fragment.bus.publish(
            "notify.new",
            {
                "title": f"Order #{order_id} confirmed",
                "body": f"{count} item{'s' if count != 1 else ''} · €{totals['total']:.2f}"
                        " — roasting starts tomorrow morning.",
                "level": "success",
            },
            user=event.user,
        )
        fragment.bus.publish(
            "order.placed",
            {
                "order_id": order_id,
                "items_count": count,
                "items": [{"sku": i["sku"], "qty": i["qty"]} for i in items],
                "city": random.choice(CITIES),
            },
            user=None,
        )

    @fragment.bus.subscribe("order.refused")
    def on_refused(event: Any) -> None:
        settle(event)  # the page that asked hears order.refused itself and says what is short

    fragment.bus.publish("catalog.products.wanted", {}, user=None)
