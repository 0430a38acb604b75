"""The counter store operations a decision yields to its driver (``decide`` calls the
store's sync methods, ``adecide`` its asyncio ones), and the methods behind them."""

from __future__ import annotations

__all__ = ["ADD", "ASYNC", "GET_ALL", "HIT", "INCR"]

HIT, INCR, ADD, GET_ALL = "window_hit", "incr", "add", "get_all"
#: the asyncio methods ``adecide`` awaits; the sync calls are ``DecisionFlow._call``
#: (ADD is ``ContentRuntime._add``: a store's ``add`` when it has one, else ``incr``)
ASYNC = {HIT: "awindow_hit", INCR: "aincr", GET_ALL: "aget_all"}
