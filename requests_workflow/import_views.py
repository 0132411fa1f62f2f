"""Console pages of the CSV import of requests: upload (the dry run), the report with the refused
lines, the run with its mode, the progress bar (htmx polling) and the result file.

Everything needs the ``manage_users`` capability (administrators and helpdesk); the services
check it again."""

from __future__ import annotations

import csv

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from blazon.console import capability_required, render_console
from blazon.errors import DomainError
from requests_workflow.models import ImportJob, ImportMode, ImportStatus
from requests_workflow.services.imports.parse import BASE_COLUMNS, MAX_BYTES, importable_types
from requests_workflow.services.imports.results import import_result_rows
from requests_workflow.services.imports.run import import_dry_run, import_run

ERRORS_PER_PAGE = 100


class UploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=format_lazy(
            _(
                "UTF-8, with a header line; at most {size} MiB. Nothing is created yet: the file is checked first."
            ),
            size=MAX_BYTES // 2**20,
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


class RunForm(forms.Form):
    mode = forms.ChoiceField(
        choices=ImportMode.choices, widget=forms.RadioSelect, initial=ImportMode.BEST_EFFORT, label=_("Mode")
    )


@capability_required("manage_users")
def import_list(request: HttpRequest) -> HttpResponse:
    """The upload form and the recent imports."""
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = import_dry_run(actor=request.user, file=upload, file_name=upload.name)
        except DomainError as exc:
            form.add_error("file", exc.message)
        else:
            return redirect("console_imports:detail", pk=job.pk)
    status = 400 if request.method == "POST" else 200
    jobs = ImportJob.objects.select_related("created_by").defer("content")[:20]
    context = {
        "form": form,
        "jobs": jobs,
        "types": importable_types(),
        "columns": BASE_COLUMNS,
    }
    return render_console(request, "console/imports/list.html", context, status=status)


@capability_required("manage_users")
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The dry-run report (refused lines by number), the run form, or the progress."""
    job = get_object_or_404(ImportJob.objects.select_related("created_by", "run_by").defer("content"), pk=pk)
    errors = Paginator(job.dry_run_errors, ERRORS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "job": job,
        "errors": errors,
        "run_form": RunForm(),
        "finished": job.status in (ImportStatus.DONE, ImportStatus.FAILED),
    }
    return render_console(request, "console/imports/detail.html", context)


@capability_required("manage_users")
@require_POST
def import_start(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob.objects.defer("content"), pk=pk)
    form = RunForm(request.POST)
    if not form.is_valid():
        messages.error(request, gettext("Choose how to run the import: best effort or all or nothing."))
        return redirect("console_imports:detail", pk=job.pk)
    try:
        import_run(actor=request.user, job=job, mode=form.cleaned_data["mode"])
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("console_imports:detail", pk=job.pk)


@capability_required("manage_users")
def import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The htmx fragment the progress bar polls; 286 stops the polling once the run is over."""
    job = get_object_or_404(ImportJob.objects.defer("content"), pk=pk)
    finished = job.status in (ImportStatus.DONE, ImportStatus.FAILED)
    response = render_console(request, "console/imports/_progress.html", {"job": job, "finished": finished})
    if finished:
        response.status_code = 286
    return response


class _Echo:
    def write(self, value: str) -> str:
        return value


@capability_required("manage_users")
def import_result(request: HttpRequest, pk: int) -> HttpResponse:
    """The result file: one line per line of the uploaded file (status, request id or error)."""
    job = get_object_or_404(ImportJob.objects.defer("content"), pk=pk)
    if job.status not in (ImportStatus.DONE, ImportStatus.FAILED):
        messages.error(request, gettext("The result file is ready once the import has run."))
        return redirect(reverse("console_imports:detail", args=[job.pk]))
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in import_result_rows(job)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-result.csv"'
    return response
