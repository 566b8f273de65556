"""Show archives (数据存档): one room's show in one self-contained, versioned file.

The format and its pure reader and writer live in :mod:`console._archive_format`
(docs/ARCHIVE.md describes every record). This module moves an archive between
a file and the stores, through their public interfaces:

- :func:`export_archive` reads the script, show state, audit log, sales, orders,
  the show's fan tiers, metric counts and top commenters, and builds the report
  at export time (kept in the archive so an import can be checked against it);
- :func:`import_archive` writes all of that into a room that has nothing yet.
  Under the archived room name the sale and order ids are kept; under another
  name each sale id gets ``-<room>`` appended (ids are unique per store, so the
  copy can sit next to the original) and its orders follow.

Fan tiers go back through :meth:`~console.fan_store.FanStore.restore_show` under
the archived channel (a rehearsal room's own channel when imported under a
rehearsal name, see :func:`~console.fandesk.channel_for`).

Import is refused before anything is written if the room already has a script,
audit entries, sales or (when the archive has fan tiers) viewers, or a sale id
is taken. It is not one transaction across stores: a store failing midway
leaves a partial room (import again into a fresh room). Unique-visitor counts
are sizes, restored with synthetic members; on Redis they are HyperLogLog
estimates, so a large set can land a little above the archived size (about
0.81%). Fan tiers are exact in every store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from redis.exceptions import RedisError

from realtime.tokens import validate_room

from ._archive_fields import REHEARSAL_PREFIX
from ._archive_format import FORMAT, VERSION, Archive, ArchiveError, read_archive, write_archive
from .audit import AuditLog, audit_log_from_url
from .commerce.sale import Sale, SaleRejected
from .commerce.stock import Order, StockStore, stock_store_from_url
from .fan_store import FanStore, fan_store_from_url
from .fandesk import channel_for
from .metrics_store import UNIQUE_SETS, MetricsStore, metrics_store_from_url
from .report import build_report
from .report_api import ReportStores, report_inputs
from .show.engine import ShowState, state_from_dict, state_to_dict
from .show.store import ShowStore, show_store_from_url

__all__ = [
    "FORMAT",
    "VERSION",
    "Archive",
    "ArchiveError",
    "ArchiveStores",
    "export_archive",
    "import_archive",
    "load_archive",
    "read_archive",
    "run_archive_command",
    "save_archive",
    "stores_for",
    "write_archive",
]

MAX_ARCHIVED_COMMENTERS: Final = 1000
"""The most active commenters kept in an archive (the report shows 10)."""
MAX_UNIQUE_ROUNDS: Final = 8
"""Rounds of synthetic members added while an estimated unique count is still short."""


@dataclass
class ArchiveStores:
    """The stores of one deployment, opened without a running server."""

    shows: ShowStore
    audit: AuditLog
    stock: StockStore
    metrics: MetricsStore
    fans: FanStore

    async def open(self) -> None:
        """Prepare the stores (the embedded stock store rebuilds from its order log)."""
        await self.stock.open()

    async def close(self) -> None:
        for store in (self.shows, self.audit, self.stock, self.metrics, self.fans):
            await store.close()


def stores_for(redis_url: str, data_dir: Path) -> ArchiveStores:
    """The stores a node with these options uses: Redis, or SQLite files in ``data_dir``.

    Call :meth:`ArchiveStores.open` before use. Embedded metrics are read from (and
    written to) the node's SQLite file like everything else.
    """
    durable = data_dir / "livecon.db"  # as Settings.durable_path
    if not redis_url:
        data_dir.mkdir(parents=True, exist_ok=True)
    url = redis_url or "sqlite://"
    return ArchiveStores(
        show_store_from_url(url, durable),
        audit_log_from_url(url, durable),
        stock_store_from_url(redis_url, data_dir / "orders.db"),
        metrics_store_from_url(url, durable),
        fan_store_from_url(url, durable),
    )


# export ---------------------------------------------------------------------------


async def export_archive(stores: ReportStores, room: str, now: float) -> Archive:
    """Everything about ``room`` as of ``now``; :class:`ArchiveError` if it has no show."""
    stored = await stores.shows.load(room)
    inputs = await report_inputs(stores, room, now)
    if stored is None and not inputs.sales and not inputs.audit:
        raise ArchiveError(f"room {room!r} has no show to export")
    return Archive(
        room=room,
        exported_at=now,
        script_file=stored.file if stored else None,
        script_source=stored.script if stored else None,
        state=state_to_dict(stored.state) if stored else None,
        audit=inputs.audit,
        sales=inputs.sales,
        orders=inputs.orders,
        counters=dict(inputs.counters),
        uniques=dict(inputs.uniques),
        top_commenters=await stores.metrics.top_commenters(room, MAX_ARCHIVED_COMMENTERS),
        report=build_report(inputs),
        fan_channel=channel_for(room, inputs.show.channel if inputs.show else None),
        fan_tiers=dict(inputs.fan_tiers),
    )


def save_archive(archive: Archive, path: Path) -> None:
    """Write ``archive`` to ``path`` (UTF-8, one record per line)."""
    path.write_text("\n".join(write_archive(archive)) + "\n", encoding="utf-8")


def load_archive(path: Path) -> Archive:
    """Read and validate the archive at ``path``; :class:`ArchiveError` if it is not one."""
    try:
        with path.open(encoding="utf-8") as handle:
            return read_archive(handle)
    except UnicodeDecodeError as exc:
        raise ArchiveError(f"{path} is not UTF-8: {exc}") from None


# import ---------------------------------------------------------------------------


def renamed(archive: Archive, room: str) -> Archive:
    """``archive`` as if exported from ``room``: see the module docstring for the ids."""
    if room == archive.room:
        return archive
    sale_ids = {sale.id: f"{sale.id}-{room}" for sale in archive.sales}

    def order_of(order: Order) -> Order:
        number = order.id.rsplit("-", 1)[-1]
        sale = sale_ids[order.sale]
        return replace(order, id=f"{sale}-{number}", sale=sale, room=room)

    report = dict(archive.report, room=room) if archive.report is not None else None
    channel = archive.fan_channel.removeprefix(REHEARSAL_PREFIX)
    return replace(
        archive,
        room=room,
        fan_channel=channel_for(room, channel) if channel else "",
        audit=[replace(entry, room=room) for entry in archive.audit],
        sales=[replace(sale, id=sale_ids[sale.id], room=room) for sale in archive.sales],
        orders=[order_of(order) for order in archive.orders],
        report=report,
    )


async def _require_empty(stores: ReportStores, archive: Archive) -> None:
    room = archive.room
    if await stores.shows.load(room) is not None:
        raise ArchiveError(f"room {room!r} already has a script; import into a new room")
    if await stores.audit.entries(room, 0, 1) or await stores.stock.sales(room):
        raise ArchiveError(f"room {room!r} already has a show; import into a new room")
    if archive.fan_tiers and any((await stores.fans.counts(room)).values()):
        raise ArchiveError(f"room {room!r} already has viewers; import into a new room")
    for sale in archive.sales:
        if await stores.stock.get_sale(sale.id) is not None:
            raise ArchiveError(f"sale {sale.id!r} exists in this store; import with another room")


async def _restore_show(stores: ReportStores, archive: Archive) -> None:
    if archive.script_file is None or archive.script_source is None:
        return
    state = state_from_dict(archive.state) if archive.state is not None else ShowState()
    room, file, source = archive.room, archive.script_file, archive.script_source
    if not await stores.shows.replace_script(room, file, source, state, None):
        raise ArchiveError(f"room {room!r} got a script while importing")


def _orders_by_sale(archive: Archive) -> Iterator[tuple[Sale, list[Order]]]:
    for sale in archive.sales:
        yield sale, [order for order in archive.orders if order.sale == sale.id]


async def _restore_sales(stores: ReportStores, archive: Archive) -> None:
    for sale, orders in _orders_by_sale(archive):
        try:
            restored = await stores.stock.restore_sale(sale, orders)
        except SaleRejected as exc:
            raise ArchiveError(exc.reason) from None
        if not restored:
            raise ArchiveError(f"sale {sale.id!r} exists in this store")


async def _restore_fans(fans: FanStore, archive: Archive) -> None:
    if archive.fan_tiers:
        channel = archive.fan_channel or channel_for(archive.room, None)
        await fans.restore_show(channel, archive.room, archive.fan_tiers)


async def _restore_uniques(metrics: MetricsStore, room: str, sizes: dict[str, int]) -> None:
    """Add synthetic members until each set's size (or estimate) reaches the archived one."""
    for name in UNIQUE_SETS:
        wanted, added = sizes.get(name, 0), 0
        for _ in range(MAX_UNIQUE_ROUNDS):
            missing = wanted - (await metrics.read(room))[1].get(name, 0)
            if missing <= 0:
                break
            for _ in range(missing):
                await metrics.add_unique(room, name, f"archived:{added}")
                added += 1


async def _restore_metrics(metrics: MetricsStore, archive: Archive) -> None:
    room = archive.room
    if archive.counters:
        await metrics.add(room, archive.counters)
    await _restore_uniques(metrics, room, archive.uniques)
    for name, count in archive.top_commenters:
        for _ in range(count):
            await metrics.add_commenter(room, name)


async def import_archive(stores: ReportStores, archive: Archive, room: str = "") -> Archive:
    """Write ``archive`` into ``room`` (default: the archived room); return what was written.

    :class:`ArchiveError` before any write if the room is not empty or a sale id is taken.
    """
    try:
        target = renamed(archive, validate_room(room or archive.room))
    except ValueError as exc:
        raise ArchiveError(str(exc)) from None
    await _require_empty(stores, target)
    await _restore_show(stores, target)
    for entry in target.audit:
        await stores.audit.append(replace(entry, seq=0))
    await _restore_sales(stores, target)
    await _restore_fans(stores.fans, target)
    await _restore_metrics(stores.metrics, target)
    return target


# the command line -----------------------------------------------------------------


def _summary(archive: Archive) -> str:
    gmv = sum(order.amount for order in archive.orders)
    return (
        f"room {archive.room}: {len(archive.sales)} sales, {len(archive.orders)} orders, "
        f"GMV {gmv} fen, {len(archive.audit)} audit entries, "
        f"{len(archive.fan_tiers)} viewers' fan tiers"
    )


async def _export_command(stores: ArchiveStores, options: dict[str, Any], now: float) -> str:
    archive = await export_archive(stores, str(options["room"]), now)
    save_archive(archive, Path(options["out"]))
    return f"exported {_summary(archive)} -> {options['out']}"


async def _import_command(stores: ArchiveStores, options: dict[str, Any]) -> str:
    written = await import_archive(stores, load_archive(Path(options["file"])), options["room"])
    message = f"imported {_summary(written)}"
    if not options["redis"] and (written.counters or any(written.uniques.values())):
        message += (
            "\nnote: embedded mode keeps audience metrics in a node's memory only; the "
            "archived counters were not kept (import with --redis to keep them)"
        )
    return message


async def run_archive_command(action: str, options: dict[str, Any], now: float) -> str:
    """``livecon archive export|import``: what to print; :class:`ArchiveError` on failure.

    ``options`` are the parsed arguments (``redis``, ``data_dir``, and ``room``/``out``
    or ``file``/``room``).
    """
    stores = stores_for(str(options["redis"]), Path(options["data_dir"]))
    try:
        await stores.open()
        if action == "export":
            return await _export_command(stores, options, now)
        return await _import_command(stores, options)
    except RedisError as exc:
        raise ArchiveError(f"Redis: {exc}") from None
    finally:
        await stores.close()
