"""Flash sales, orders and the stock store."""

from __future__ import annotations

from .desk import SalesDesk, describe
from .sale import BuyOutcome, Sale, SaleRejected, SaleStatus, decide_buy
from .stock import BuyResult, Order, Reconciliation, SaleCounters, StockStore

__all__ = [
    "BuyOutcome",
    "BuyResult",
    "Order",
    "Reconciliation",
    "Sale",
    "SaleCounters",
    "SaleRejected",
    "SaleStatus",
    "SalesDesk",
    "StockStore",
    "decide_buy",
    "describe",
]
