"""The import services: the dry run, the start of a run and its execution in batches (best
effort) or in one transaction (all or nothing)."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from blazon.audit.services import AuditEntry, audit_record, audit_record_many
from blazon.errors import DomainError, TransitionNotAllowed, ValidationFailed
from blazon.tasks import enqueue_on_commit
from directory.models import User
from requests_workflow.models import (
    ImportJob,
    ImportMode,
    ImportRow,
    ImportRowStatus,
    ImportStatus,
    Request,
    RequestEvent,
    RequestStatus,
)
from requests_workflow.services.imports.parse import BATCH, MAX_BYTES, SOURCE, Line, _decode, import_parse
from requests_workflow.services.imports.validate import Accepted, _chunks, _require_importer, _validate_lines
from requests_workflow.services.requests import request_create
from requests_workflow.tasks import process_requests_batch, run_import


def import_dry_run(*, actor: User, file: Any, file_name: str = "") -> ImportJob:
    """Read and validate an uploaded CSV of requests; writes only the job (status VALIDATED)
    with every refused line and its reason. A file that cannot be read at all (encoding, header,
    empty) raises ``ValidationFailed`` and writes nothing."""
    _require_importer(actor)
    if not isinstance(file, bytes) and (getattr(file, "size", 0) or 0) > MAX_BYTES:
        raise ValidationFailed(
            gettext("The file is larger than %(value)s MiB; split it.") % {"value": MAX_BYTES // 2**20},
            fields={"file": [gettext("Too large.")]},
        )
    data = file if isinstance(file, bytes) else file.read()
    name = (file_name or getattr(file, "name", "") or "import.csv")[:255]
    parsed = import_parse(data)
    refused, accepted = _validate_lines(parsed.lines, actor)
    with transaction.atomic():
        job = ImportJob.objects.create(
            file_name=name,
            content=_decode(data),
            types=parsed.types,
            row_count=len(parsed.lines),
            ok_count=len(accepted),
            error_count=len(refused),
            dry_run_errors=refused,
            created_by=actor,
        )
        audit_record(
            actor=actor,
            action="import.validated",
            obj=job,
            new={"file": name, "rows": job.row_count, "valid": job.ok_count, "refused": job.error_count},
            source=SOURCE,
        )
    return job


@transaction.atomic
def import_run(*, actor: User, job: ImportJob, mode: str) -> ImportJob:
    """Start the run of a validated import in ``mode``; the requests are created by a Celery
    task once this commits."""
    _require_importer(actor)
    if mode not in ImportMode.values:
        raise ValidationFailed(
            gettext("Unknown mode %(mode)r.") % {"mode": mode},
            fields={"mode": [gettext("One of %(values)s.") % {"values": ", ".join(ImportMode.values)}]},
        )
    locked = ImportJob.objects.select_for_update().get(pk=job.pk)
    if locked.status != ImportStatus.VALIDATED:
        raise TransitionNotAllowed(
            gettext("Import #%(pk)s is %(status)s: it has already been run.")
            % {"pk": locked.pk, "status": locked.status},
            fields={"status": [gettext("%(status)s cannot run.") % {"status": locked.status}]},
        )
    locked.mode, locked.status, locked.run_by = mode, ImportStatus.RUNNING, actor
    locked.ok_count = locked.error_count = locked.processed = 0
    locked.save(
        update_fields=["mode", "status", "run_by", "ok_count", "error_count", "processed", "updated_at"]
    )
    audit_record(actor=actor, action="import.started", obj=locked, new={"mode": mode}, source=SOURCE)

    enqueue_on_commit(run_import, locked.pk)
    job.refresh_from_db()
    return locked


def import_execute(*, job_id: int) -> ImportJob:
    """Create the requests of a RUNNING import (what the task calls). Safe to run twice: lines
    already recorded are skipped, a finished job is left alone."""
    job = ImportJob.objects.select_related("run_by").get(pk=job_id)
    if job.status != ImportStatus.RUNNING:
        return job
    if job.started_at is None:
        ImportJob.objects.filter(pk=job.pk).update(started_at=timezone.now())
    parsed = import_parse(job.content.encode("utf-8"))
    actor = job.run_by
    done = set(ImportRow.objects.filter(job=job).values_list("line", flat=True))
    lines = [ln for ln in parsed.lines if ln.number not in done]
    if job.mode == ImportMode.ALL_OR_NOTHING:
        _run_all_or_nothing(job, lines, actor)
    else:
        for start in range(0, len(lines), BATCH):
            _run_batch(job, lines[start : start + BATCH], actor)
    return _finish(job)


def _create(ln: Line, args: dict[str, Any], actor: User | None) -> ImportRow:
    try:
        req = request_create(actor=actor, source=SOURCE, **args)
    except DomainError as exc:
        return ImportRow(line=ln.number, status=ImportRowStatus.ERROR, error=exc.message)
    return ImportRow(line=ln.number, status=ImportRowStatus.CREATED, request=req)


def _lock_beneficiaries(lines: list[Line]) -> None:
    """Lock the batch's beneficiaries before validating, as ``request_create`` does for one
    request, so a concurrent request for the same user waits instead of racing the checks."""
    names = sorted({ln.values["beneficiary"] for ln in lines if ln.values.get("beneficiary")})
    for chunk in _chunks(names):
        list(User.objects.select_for_update().filter(username__in=chunk).order_by("pk").values_list("pk"))


def _create_many(accepted: list[Accepted], actor: User | None) -> list[ImportRow]:
    """``request_create`` for lines ``_validate_lines`` accepted in this transaction, set-based:
    the requests, their two timeline events and their audit events in a few statements, and the
    batch's processing (stages 3-5, set-based: ``services.bulk``) enqueued on commit as one
    task per ``BATCH`` requests. Falls back to one ``request_create`` per line when a concurrent
    request took one of the objects (the unique pending-request constraint)."""

    if not accepted:
        return []
    built = []
    for item in accepted:
        ln, args = item.line, item.args
        refs = {n: args.get(n) for n in ("resource", "account", "entitlement", "role")}
        req = Request(
            type=args["request_type"],
            requester=actor,
            beneficiary=item.beneficiary,
            source=SOURCE,
            payload=args["payload"],
            justification=(args["justification"] or "").strip(),
            start_at=args["start_at"],
            end_at=args["end_at"],
            dedup_key=item.key,
            stage=2,
            **refs,
        )
        built.append((ln, req, refs))
    try:
        with transaction.atomic():
            Request.objects.bulk_create([req for _, req, _ in built], batch_size=BATCH)
    except IntegrityError:
        return [_create(item.line, item.args, actor) for item in accepted]
    actor_ref = actor if getattr(actor, "pk", None) else None
    events = []
    for _, req, _ in built:
        events.append(
            RequestEvent(
                request=req,
                stage=1,
                to_status=RequestStatus.NEW,
                actor=actor_ref,
                message=f"Created from {SOURCE}.",
            )
        )
        events.append(
            RequestEvent(request=req, stage=2, actor=actor_ref, message="Validation policies passed.")
        )
    RequestEvent.objects.bulk_create(events, batch_size=2 * BATCH)
    audit_record_many(
        (
            AuditEntry(
                action="request.created",
                object_type=Request._meta.label,
                object_id=req.pk,
                object_repr=str(req),
                new={
                    "type": req.type,
                    "beneficiary": req.beneficiary.username if req.beneficiary else None,
                    **{name: str(obj) for name, obj in refs.items() if obj is not None},
                    "payload": req.payload,
                    "justification": req.justification,
                    "start_at": req.start_at,
                    "end_at": req.end_at,
                },
                subject_user_id=req.beneficiary_id,
            )
            for _, req, refs in built
        ),
        actor=actor,
        source=SOURCE,
    )
    ids = [req.pk for _, req, _ in built]
    for start in range(0, len(ids), BATCH):  # all or nothing: one task per BATCH requests
        enqueue_on_commit(process_requests_batch, ids[start : start + BATCH])
    return [ImportRow(line=ln.number, status=ImportRowStatus.CREATED, request=req) for ln, req, _ in built]


def _run_batch(job: ImportJob, lines: list[Line], actor: User | None) -> None:
    """One transaction: the batch's requests, its rows, the progress."""
    with transaction.atomic():
        _lock_beneficiaries(lines)
        refused, accepted = _validate_lines(lines, actor)
        rows = [ImportRow(line=r["line"], status=ImportRowStatus.ERROR, error=r["error"]) for r in refused]
        rows += _create_many(accepted, actor)
        for row in rows:
            row.job = job
        ImportRow.objects.bulk_create(rows)
        created = sum(r.status == ImportRowStatus.CREATED for r in rows)
        _progress(job, len(rows), created, len(rows) - created)


def _progress(job: ImportJob, processed: int, ok: int, errors: int) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        processed=F("processed") + processed,
        ok_count=F("ok_count") + ok,
        error_count=F("error_count") + errors,
        updated_at=timezone.now(),
    )


class _RollBack(Exception):
    pass


def _run_all_or_nothing(job: ImportJob, lines: list[Line], actor: User | None) -> None:
    """Validate every line again (the directory may have changed since the dry run); create
    everything in one transaction only when every line passes."""
    refused: list[dict[str, Any]] = []
    try:
        with transaction.atomic():
            _lock_beneficiaries(lines)
            refused, accepted = _validate_lines(lines, actor)
            if refused:
                raise _RollBack
            rows = _create_many(accepted, actor)
            refused = [{"line": r.line, "error": r.error} for r in rows if r.status == ImportRowStatus.ERROR]
            if refused:
                raise _RollBack  # a concurrent request took an object: undo every request
            for row in rows:
                row.job = job
            ImportRow.objects.bulk_create(rows)
            _progress(job, len(rows), len(rows), 0)
            return
    except _RollBack:
        pass
    bad = {r["line"]: r["error"] for r in refused}
    rows = [
        ImportRow(job=job, line=ln.number, status=ImportRowStatus.ERROR, error=bad[ln.number])
        if ln.number in bad
        else ImportRow(job=job, line=ln.number, status=ImportRowStatus.NOT_CREATED)
        for ln in lines
    ]
    with transaction.atomic():
        ImportRow.objects.bulk_create(rows)
        ImportJob.objects.filter(pk=job.pk).update(
            processed=len(rows),
            ok_count=0,
            error_count=len(bad),
            failure_reason=(
                f"{len(bad)} line{'s' if len(bad) != 1 else ''} refused; all or nothing: no request was created."
            ),
        )


@transaction.atomic
def _finish(job: ImportJob) -> ImportJob:
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status != ImportStatus.RUNNING:
        return job
    job.status = ImportStatus.FAILED if job.failure_reason else ImportStatus.DONE
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "finished_at", "updated_at"])
    audit_record(
        actor=job.run_by,
        action=f"import.{job.status.lower()}",
        obj=job,
        new={
            "mode": job.mode,
            "created": job.ok_count,
            "refused": job.error_count,
            "reason": job.failure_reason,
        },
        source=SOURCE,
    )
    return job
