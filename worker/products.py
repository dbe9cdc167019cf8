"""Products' names and prices from Dodo, cached, and the catalogue of the products the rules offer,
kept warm from start-up on, so no offer waits on Dodo's product lookup."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import structlog
from dodopayments import DodoPayments, DodoPaymentsError

from worker import metrics

PRODUCT_SECONDS = 300.0  # names and prices change rarely
REFRESH_SECONDS = PRODUCT_SECONDS * 0.6  # the catalogue is loaded again well before entries expire
T = TypeVar("T")
log = structlog.get_logger("products")


class TtlCache:
    """Values for `seconds`; at most `size` of them (the oldest go first), so a receiver that
    serves millions of customers keeps a bounded dict."""

    def __init__(self, seconds: float, size: int = 10_000) -> None:
        self.seconds, self.size = seconds, size
        self._values: dict[str, tuple[float, float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], T], changed_at: float | None = None) -> T:
        """The cached value, unless older than `seconds` or loaded before `changed_at` (wall clock)."""
        with self._lock:
            hit = self._values.get(key)
        fresh = hit is not None and time.monotonic() - hit[0] < self.seconds
        if hit is not None and fresh and (changed_at is None or hit[1] >= changed_at):
            return hit[2]
        loaded_at = time.time()
        value = load()
        self.put(key, value, loaded_at)
        return value

    def put(self, key: str, value: Any, loaded_at: float | None = None) -> None:
        """Store a value (`loaded_at`: when its load began, wall clock); the oldest go past `size`."""
        with self._lock:
            self._values.pop(key, None)
            self._values[key] = (time.monotonic(), loaded_at or time.time(), value)  # insertion order: oldest first
            while len(self._values) > self.size:
                del self._values[next(iter(self._values))]


_products = TtlCache(PRODUCT_SECONDS)


def info(api: DodoPayments, product_id: str) -> dict[str, Any]:
    """Name and price (cached); raises DodoPaymentsError (404: Dodo knows no such product)."""
    return _products.get(product_id, lambda: _product(api, product_id))


class Catalogue:
    """Keeps the products the rules offer in the cache from start-up on, each loaded again well
    before its entry would expire, so no offer waits on Dodo's product lookup. Dodo unreachable:
    the old entries age out and offers ask on demand, as before."""

    def __init__(self, api: DodoPayments, products: Callable[[], frozenset[str]]) -> None:
        self.api, self.products = api, products

    def refresh(self) -> int:
        """Load every product now; returns how many Dodo answered."""
        loaded = 0
        for product_id in sorted(self.products()):
            try:
                _products.put(product_id, _product(self.api, product_id))
                loaded += 1
            except (DodoPaymentsError, ValueError, TypeError, AttributeError) as exc:
                log.warning("catalogue_product_unavailable", product_id=product_id, error=type(exc).__name__)
        return loaded

    def start(self) -> None:
        threading.Thread(target=self._run, name="upsell-catalogue", daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                log.info("catalogue_loaded", products=self.refresh())
            except Exception as exc:  # the refresher must outlive anything: offers fall back to asking
                metrics.background_error("catalogue_refresh", log, exc)
            time.sleep(REFRESH_SECONDS)


def _product(api: DodoPayments, product_id: str) -> dict[str, Any]:
    product = api.products.retrieve(product_id)
    price = product.price
    return {
        "product_name": product.name or product_id,
        "price": getattr(price, "price", None),
        "currency": str(getattr(price, "currency", "")) or None,
        "recurring": bool(product.is_recurring),
    }
