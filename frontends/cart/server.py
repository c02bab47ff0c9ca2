"""Cart fragment, server side: carts per user, pricing and checkout.

Every tab of a user publishes the same ``cart.*`` events (scope ``user``); this module
applies them to a per-user cart so a new tab renders the cart on the server and a
reconnecting tab can ask ``cart.get`` after ``tessera.resync``.

Checkout: ``checkout.requested`` -> clear the cart, then publish ``order.confirmed`` and
``notify.new`` to that user, and ``order.placed`` to everyone (the catalog's server code
takes the ordered quantities out of stock; the activity ticker shows it).
"""

from __future__ import annotations

import itertools
import random
import threading
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

VAT_RATE = Decimal("0.21")  # prices include VAT
SHIPPING = Decimal("4.90")
FREE_SHIPPING_OVER = Decimal("40.00")
MAX_QTY = 99
CITIES = ["Lisbon", "Ghent", "Utrecht", "Lyon", "Bologna", "Porto", "Tallinn", "Kraków",
          "Valencia", "Leipzig", "Bergen", "Graz"]
CENT = Decimal("0.01")


def _money(value: Decimal) -> float:
    return float(value.quantize(CENT, rounding=ROUND_HALF_UP))


def clean_item(data: Any) -> dict[str, Any] | None:
    """A cart line from event data, or None if it is not one."""
    if not isinstance(data, dict) or not isinstance(data.get("sku"), str):
        return None
    price, qty = data.get("price"), data.get("qty", 1)
    if isinstance(price, bool) or not isinstance(price, (int, float)) or price < 0:
        return None
    if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
        return None
    name = data.get("name") if isinstance(data.get("name"), str) else data["sku"]
    return {"sku": data["sku"], "name": name, "price": float(price), "qty": min(qty, MAX_QTY)}


def clean_items(items: Any) -> list[dict[str, Any]]:
    lines = [clean_item(i) for i in items] if isinstance(items, list) else []
    return [line for line in lines if line]


def quote(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals for a list of cart lines, in EUR, VAT included."""
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
    """Carts keyed by user id; every method is safe to call from worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._carts: dict[str, dict[str, dict[str, Any]]] = {}

    def items(self, user: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(i) for i in self._carts.get(user or "", {}).values()]

    def add(self, user: str | None, item: dict[str, Any]) -> None:
        with self._lock:
            cart = self._carts.setdefault(user or "", {})
            line = cart.get(item["sku"])
            if line:
                line["qty"] = min(line["qty"] + item["qty"], MAX_QTY)
            else:
                cart[item["sku"]] = dict(item)

    def set_qty(self, user: str | None, sku: Any, qty: Any) -> None:
        with self._lock:
            line = self._carts.get(user or "", {}).get(sku)
            if line and isinstance(qty, int) and not isinstance(qty, bool) and qty >= 1:
                line["qty"] = min(qty, MAX_QTY)

    def remove(self, user: str | None, sku: Any) -> None:
        with self._lock:
            self._carts.get(user or "", {}).pop(sku, None)

    def clear(self, user: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._carts.pop(user or "", {}).values())


def _data(event: Any) -> dict[str, Any]:
    return event.data if isinstance(event.data, dict) else {}


def setup(fragment: Any) -> None:
    store = CartStore()
    order_ids = itertools.count(1042)
    order_lock = threading.Lock()

    @fragment.props
    def cart_props() -> dict[str, Any]:
        items = store.items(fragment.current_user())
        return {"items": items, "quote": quote(items)}

    @fragment.bus.subscribe("cart.item.added")
    def on_added(event: Any) -> None:
        item = clean_item(event.data)
        if item:
            store.add(event.user, item)

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
        return {"items": store.items(event.user)}

    @fragment.bus.respond("pricing.quote")
    def pricing_quote(event: Any) -> dict[str, Any]:
        data = _data(event)
        items = clean_items(data["items"]) if "items" in data else store.items(event.user)
        return quote(items)

    @fragment.bus.subscribe("checkout.requested")
    def on_checkout(event: Any) -> None:
        # The page sends what the shopper saw; the server's copy covers a bare request.
        server_items = store.clear(event.user)
        items = clean_items(_data(event).get("items")) or server_items
        if not items:
            return
        with order_lock:
            order_id = next(order_ids)
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
