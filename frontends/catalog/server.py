"""Catalog fragment, server side: the product list, prices and live stock — the one
authority on what things cost and how many are left.

Pages only ever say *what* a shopper wants (a SKU and a quantity); what it costs and whether
it is in stock is decided here, from ``PRODUCTS``. The catalog shares that with the cart's
server code through the bus, never through imports, and trusts only server-side events:

- ``catalog.products`` (global): every product's name, price and stock, published at start-up
  and again whenever someone asks with ``catalog.products.wanted`` (so the two fragments may
  start in any order).
- ``order.requested`` (from ``/server/cart``, to the ordering user): reserve every line or
  none. Then ``order.reserved`` with the catalog's names and prices, and ``stock.changed``
  (global) for each product, or ``order.refused`` with the first line that cannot be had.

Stock lives in memory for the life of the process (one store per ``setup`` call, so two
apps in one process never share it).
"""

from __future__ import annotations

import threading
from typing import Any

PRODUCTS: list[dict[str, Any]] = [
    {
        "sku": "eth-yirgacheffe", "kind": "beans", "art": "bag", "tint": "terracotta",
        "name": "Yirgacheffe Kochere", "origin": "Ethiopia · washed", "size": "250 g",
        "notes": ["jasmine", "bergamot", "lemon curd"], "roast": "Light", "price": 14.50,
        "stock": 24,
    },
    {
        "sku": "col-huila", "kind": "beans", "art": "bag", "tint": "caramel",
        "name": "Huila Pink Bourbon", "origin": "Colombia · honey", "size": "250 g",
        "notes": ["caramel", "red apple", "cocoa nib"], "roast": "Medium-light",
        "price": 13.00, "stock": 18,
    },
    {
        "sku": "ken-nyeri", "kind": "beans", "art": "bag", "tint": "currant",
        "name": "Nyeri Gatomboya AA", "origin": "Kenya · washed", "size": "250 g",
        "notes": ["blackcurrant", "grapefruit", "molasses"], "roast": "Light",
        "price": 16.00, "stock": 7,
    },
    {
        "sku": "gua-antigua", "kind": "beans", "art": "bag", "tint": "cocoa",
        "name": "Antigua La Azotea", "origin": "Guatemala · natural", "size": "250 g",
        "notes": ["milk chocolate", "hazelnut", "plum"], "roast": "Medium",
        "price": 12.50, "stock": 30,
    },
    {
        "sku": "sum-decaf", "kind": "beans", "art": "bag", "tint": "forest",
        "name": "Mandheling Decaf", "origin": "Sumatra · sugarcane EA", "size": "250 g",
        "notes": ["cedar", "dark chocolate", "brown sugar"], "roast": "Medium-dark",
        "price": 13.50, "stock": 4,
    },
    {
        "sku": "gear-dripper", "kind": "gear", "art": "dripper", "tint": "clay",
        "name": "Ceramic Cone Dripper", "origin": "Gear · size 02 cone",
        "size": "", "notes": ["spiral ribs", "hand-glazed"], "roast": None,
        "price": 24.00, "stock": 12,
    },
    {
        "sku": "gear-kettle", "kind": "gear", "art": "kettle", "tint": "slate",
        "name": "Gooseneck Pour Kettle", "origin": "Gear · 0.9 litre",
        "size": "", "notes": ["thermometer", "steady pour"], "roast": None,
        "price": 49.00, "stock": 5,
    },
    {
        "sku": "gear-grinder", "kind": "gear", "art": "grinder", "tint": "walnut",
        "name": "Conical Hand Grinder", "origin": "Gear · steel burrs",
        "size": "", "notes": ["40 click steps", "walnut crank"], "roast": None,
        "price": 89.00, "stock": 3,
    },
    # Accessories: sold here, shown by the recommendations fragment (not in the catalog grid).
    {"sku": "acc-filters", "kind": "accessory", "name": "Paper filters ×100", "price": 6.50, "stock": 60},
    {"sku": "acc-scale", "kind": "accessory", "name": "Brew scale & timer", "price": 29.00, "stock": 15},
    {"sku": "acc-canister", "kind": "accessory", "name": "Airtight canister", "price": 19.00, "stock": 20},
    {"sku": "acc-cups", "kind": "accessory", "name": "Stoneware cup pair", "price": 22.00, "stock": 16},
    {"sku": "acc-carafe", "kind": "accessory", "name": "Glass carafe 600 ml", "price": 21.00, "stock": 10},
    {"sku": "acc-brush", "kind": "accessory", "name": "Grinder brush", "price": 7.50, "stock": 25},
    {"sku": "acc-thermometer", "kind": "accessory", "name": "Clip-on thermometer", "price": 12.00, "stock": 14},
    {"sku": "acc-journal", "kind": "accessory", "name": "Tasting journal", "price": 9.00, "stock": 30},
]
SHELF_KINDS = ("beans", "gear")  # what the catalog grid shows


class StockStore:
    """Current stock per SKU, safe to use from the bus's worker threads."""

    def __init__(self, products: list[dict[str, Any]]) -> None:
        self._lock = threading.Lock()
        self._stock = {p["sku"]: int(p["stock"]) for p in products}

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stock)

    def reserve(self, lines: dict[str, int]) -> tuple[dict[str, int], None] | tuple[None, tuple[str, int]]:
        """Take every line (SKU -> quantity) out of stock, or none of them.

        Returns (the new stock of each SKU taken, None), or (None, (sku, available)) for the
        first line that is unknown (available 0) or asks for more than is left.
        """
        with self._lock:
            for sku, qty in lines.items():
                if qty > self._stock.get(sku, 0):
                    return None, (sku, self._stock.get(sku, 0))
            for sku, qty in lines.items():
                self._stock[sku] -= qty
            return {sku: self._stock[sku] for sku in lines}, None


def order_lines(data: Any) -> dict[str, int] | None:
    """SKU -> quantity of an order request, or None when it is not one (quantities add up)."""
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        return None
    lines: dict[str, int] = {}
    for item in items:
        sku, qty = (item.get("sku"), item.get("qty")) if isinstance(item, dict) else (None, None)
        if not isinstance(sku, str) or isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
            return None
        lines[sku] = lines.get(sku, 0) + qty
    return lines


def _from_server(event: Any, name: str) -> bool:
    """Whether ``event`` was published by fragment ``name``'s server code (pages cannot claim it)."""
    return event.source == f"/server/{name}"


def setup(fragment: Any) -> None:
    store = StockStore(PRODUCTS)
    products = {p["sku"]: p for p in PRODUCTS}

    def publish_products() -> None:
        stock = store.snapshot()
        listing = [{"sku": p["sku"], "name": p["name"], "price": p["price"], "stock": stock[p["sku"]]}
                   for p in PRODUCTS]
        fragment.bus.publish("catalog.products", {"products": listing}, user=None)

    @fragment.props
    def catalog_props() -> dict[str, Any]:
        stock = store.snapshot()
        return {"products": [dict(p, stock=stock[p["sku"]]) for p in PRODUCTS if p["kind"] in SHELF_KINDS]}

    @fragment.bus.respond("catalog.stock")
    def current_stock(event: Any) -> dict[str, int]:
        return store.snapshot()

    @fragment.bus.subscribe("catalog.products.wanted")
    def on_products_wanted(event: Any) -> None:
        if event.source.startswith("/server/"):
            publish_products()

    @fragment.bus.subscribe("order.requested")
    def on_order_requested(event: Any) -> None:
        data = event.data if isinstance(event.data, dict) else {}
        lines = order_lines(data)
        if not _from_server(event, "cart") or event.user is None or lines is None:
            return
        taken, short = store.reserve(lines)
        if taken is None:
            sku, available = short
            name = products[sku]["name"] if sku in products else sku
            fragment.bus.publish("order.refused", {"order_id": data.get("order_id"), "sku": sku, "name": name,
                                                   "available": available}, user=event.user)
            return
        for sku, stock in taken.items():
            fragment.bus.publish("stock.changed", {"sku": sku, "stock": stock, "name": products[sku]["name"]},
                                 user=None)
        items = [{"sku": sku, "name": products[sku]["name"], "price": products[sku]["price"], "qty": qty}
                 for sku, qty in lines.items()]
        fragment.bus.publish("order.reserved", {"order_id": data.get("order_id"), "items": items}, user=event.user)

    publish_products()
