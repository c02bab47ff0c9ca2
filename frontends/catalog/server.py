"""Catalog fragment, server side: the product list and live stock.

Stock lives in memory for the life of the process (one store per ``setup`` call, so two
apps in one process never share it). When the cart's checkout handling announces an
order (``order.placed``, global), stock goes down and every page hears ``stock.changed``.
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
]


class StockStore:
    """Current stock per SKU, safe to use from the bus's worker threads."""

    def __init__(self, products: list[dict[str, Any]]) -> None:
        self._lock = threading.Lock()
        self._stock = {p["sku"]: int(p["stock"]) for p in products}

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stock)

    def take(self, lines: list[dict[str, Any]]) -> dict[str, int]:
        """Remove ordered quantities (never below zero); return the SKUs that changed."""
        changed: dict[str, int] = {}
        with self._lock:
            for line in lines:
                sku, qty = line.get("sku"), line.get("qty")
                if sku not in self._stock or not isinstance(qty, int) or qty <= 0:
                    continue
                before = self._stock[sku]
                self._stock[sku] = max(0, before - qty)
                if self._stock[sku] != before:
                    changed[sku] = self._stock[sku]
        return changed


def _order_lines(data: Any) -> list[dict[str, Any]]:
    items = data.get("items") if isinstance(data, dict) else None
    return [line for line in items or [] if isinstance(line, dict)]


def setup(fragment: Any) -> None:
    store = StockStore(PRODUCTS)
    names = {p["sku"]: p["name"] for p in PRODUCTS}

    @fragment.props
    def catalog_props() -> dict[str, Any]:
        stock = store.snapshot()
        return {"products": [dict(p, stock=stock[p["sku"]]) for p in PRODUCTS]}

    @fragment.bus.respond("catalog.stock")
    def current_stock(event: Any) -> dict[str, int]:
        return store.snapshot()

    @fragment.bus.subscribe("order.placed")
    def on_order_placed(event: Any) -> None:
        for sku, stock in store.take(_order_lines(event.data)).items():
            fragment.bus.publish(
                "stock.changed",
                {"sku": sku, "stock": stock, "name": names[sku]},
                user=None,
            )
