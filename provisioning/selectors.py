"""Read queries of provisioning for the console: the queue, stuck entries, adapter health,
and a resource's provisioning summary. Each runs a fixed number of queries (no N+1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from blazon.audit.services import redact
from directory.models import ProvisioningMode, Resource
from provisioning.models import AdapterClient, EntryStatus, ProvisioningEntry, ResourceRetryPolicy

#: A resource whose adapter has not polled for this long is shown as not connected.
POLL_FRESH = timedelta(minutes=5)


def stuck_since(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(minutes=settings.BLAZON_PROVISIONING_STUCK_MINUTES)


def stuck_q(now: datetime | None = None) -> Q:
    """Entries not moving: PENDING for longer than ``BLAZON_PROVISIONING_STUCK_MINUTES``, or
    waiting for someone to resolve them by hand after an adapter failure."""
    return Q(status=EntryStatus.PENDING, created_at__lt=stuck_since(now)) | Q(
        status=EntryStatus.WAITING_FAILOVER_RESOLVING
    )


def stuck_count() -> int:
    return ProvisioningEntry.objects.filter(stuck_q()).count()


def queue_entries() -> QuerySet[ProvisioningEntry]:
    """The queue's rows with everything a row shows, in one query."""
    return ProvisioningEntry.objects.select_related(
        "resource", "account", "entitlement", "lease_owner", "manual_task"
    ).order_by("-pk")


def request_id_of(entry: ProvisioningEntry) -> int | None:
    """The request an entry was written for, or rolls back (its typed links)."""
    return entry.request_id or entry.rollback_of_id


def entries_of_request(request_id: int) -> QuerySet[ProvisioningEntry]:
    """The entries that carry out a request (what its stage 4 asked the applications to do),
    oldest first; not those of its rollback."""
    return ProvisioningEntry.objects.filter(request_id=request_id).order_by("pk")


def masked(values: dict[str, Any] | None) -> dict[str, Any]:
    """A payload or result as the console shows it: secret references and values masked."""
    return redact(dict(values or {})) or {}


@dataclass
class ClientHealth:
    client: AdapterClient
    resources: list[Resource]
    backlog: int = 0
    stuck: int = 0
    succeeded_24h: int = 0
    failed_24h: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def failure_rate(self) -> float | None:
        total = self.succeeded_24h + self.failed_24h
        return None if not total else round(100 * self.failed_24h / total, 1)


def _per_resource(resource_ids: set[int], now: datetime) -> dict[int, dict[str, int]]:
    rows = (
        ProvisioningEntry.objects.filter(resource_id__in=resource_ids)
        .values("resource_id")
        .annotate(
            backlog=Count("pk", filter=Q(status=EntryStatus.PENDING, mode=ProvisioningMode.AUTOMATIC)),
            stuck=Count("pk", filter=stuck_q(now) & Q(mode=ProvisioningMode.AUTOMATIC)),
        )
        .order_by()
    )
    return {r["resource_id"]: r for r in rows}


def adapter_health() -> list[ClientHealth]:
    """Per adapter client: its resources, last poll, backlog (AUTOMATIC entries PENDING on its
    resources), stuck entries, and its failure rate over 24 hours: of the entries it reported
    on in that time, those that ended failed or waiting for manual resolution, or went back
    to the pool after a transient failure. Four queries whatever the number of clients."""
    now = timezone.now()
    clients = list(AdapterClient.objects.prefetch_related("resources").order_by("name"))
    resource_ids = {r.pk for c in clients for r in c.resources.all()}
    per_resource = _per_resource(resource_ids, now) if resource_ids else {}
    since = now - timedelta(hours=24)
    outcomes = {
        r["lease_owner_id"]: r
        for r in ProvisioningEntry.objects.filter(lease_owner__isnull=False, updated_at__gte=since)
        .values("lease_owner_id")
        .annotate(
            ok=Count("pk", filter=Q(status=EntryStatus.SUCCEEDED)),
            ko=Count(
                "pk",
                filter=Q(status__in=(EntryStatus.FAILED, EntryStatus.WAITING_FAILOVER_RESOLVING))
                | Q(status=EntryStatus.PENDING, transient_failures__gt=0),
            ),
        )
        .order_by()
    }
    result = []
    for client in clients:
        resources = sorted(client.resources.all(), key=lambda r: r.name)
        health = ClientHealth(client=client, resources=resources)
        for r in resources:
            counts = per_resource.get(r.pk, {})
            health.backlog += counts.get("backlog", 0)
            health.stuck += counts.get("stuck", 0)
        out = outcomes.get(client.pk, {})
        health.succeeded_24h, health.failed_24h = out.get("ok", 0), out.get("ko", 0)
        if not client.active:
            health.warnings.append(gettext("inactive: its tokens are refused"))
        if client.last_poll_at is None:
            health.warnings.append(gettext("never polled"))
        elif client.last_poll_at < now - POLL_FRESH:
            health.warnings.append(gettext("has not polled for more than 5 minutes"))
        result.append(health)
    return result


@dataclass
class ResourceProvisioning:
    clients: list[AdapterClient]
    policy: ResourceRetryPolicy | None
    default_max_failures: int
    last_poll_at: datetime | None
    last_success_at: datetime | None
    counts: dict[str, int]

    @property
    def connected(self) -> bool:
        return any(c.active for c in self.clients) and bool(
            self.last_poll_at and self.last_poll_at >= timezone.now() - POLL_FRESH
        )


def resource_provisioning(resource: Resource) -> ResourceProvisioning:
    """What the resource page's provisioning tab shows beside the event modes."""
    clients = list(resource.adapter_clients.order_by("name"))
    active_polls = [c.last_poll_at for c in clients if c.active and c.last_poll_at]
    entries = ProvisioningEntry.objects.filter(resource=resource)
    counts = dict(entries.values_list("status").annotate(n=Count("pk")).order_by())
    last_success = entries.filter(status=EntryStatus.SUCCEEDED, lease_owner__isnull=False).aggregate(
        at=Max("finished_at")
    )["at"]
    return ResourceProvisioning(
        clients=clients,
        policy=ResourceRetryPolicy.objects.filter(resource=resource).first(),
        default_max_failures=settings.BLAZON_ADAPTER_MAX_TRANSIENT_FAILURES,
        last_poll_at=max(active_polls) if active_polls else None,
        last_success_at=last_success,
        counts={s.value: counts.get(s.value, 0) for s in EntryStatus},
    )


def adapter_status_lines() -> list[str]:
    """``manage.py status``: one line per adapter client (last poll, backlog, stuck entries,
    24-hour failure rate, warnings), from ``adapter_health``."""
    now = timezone.now()
    lines = []
    for h in adapter_health():
        polled = (
            f"last poll {int((now - h.client.last_poll_at).total_seconds())}s ago"
            if h.client.last_poll_at
            else "never polled"
        )
        rate = "-" if h.failure_rate is None else f"{h.failure_rate}%"
        warn = f" [{'; '.join(h.warnings)}]" if h.warnings else ""
        lines.append(
            f"{h.client.name:<32} {polled}, backlog {h.backlog}, stuck {h.stuck}, failures 24h {rate}{warn}"
        )
    lines.append(f"provisioning entries stuck: {stuck_count()}")
    return lines
