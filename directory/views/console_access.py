"""Console pages that change who may use what: the members of a shared account and the
administrative (console) role of a user.

Adding and removing members needs ``manage_users``; ``directory.services.access`` enforces the
rules (shared accounts only, ACTIVE users, no duplicates) and opens the password-rotation alert
when someone leaves. Console roles are for administrators only (``manage_config`` is theirs
alone); ``directory.services.users.console_role_set`` checks that again and keeps the last
administrator."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET, require_POST

from blazon.console import capability_required, render_console, report_domain_error
from blazon.errors import DomainError
from directory.models import Account, AccountType, SharedAccountMember, User, UserStatus
from directory.services import access, users
from directory.views.forms import ConsoleRoleForm, SharedMemberForm

SOURCE = "console"
SEARCH_LIMIT = 10


def _shared_account(pk: int) -> Account:
    return get_object_or_404(
        Account.objects.select_related("resource"), pk=pk, account_type=AccountType.SHARED
    )


@require_GET
@capability_required("manage_users")
def shared_member_search(request: HttpRequest, pk: int) -> HttpResponse:
    """The htmx fragment under the "add member" box: ACTIVE users matching what was typed, who
    are not members yet, each with its own add button."""
    account = _shared_account(pk)
    q = request.GET.get("user", "").strip()
    users: list[User] = []
    if len(q) >= 2:
        users = list(
            User.objects.filter(status=UserStatus.ACTIVE)
            .filter(
                Q(username__icontains=q)
                | Q(first_name__icontains=q)
                | Q(last_name__icontains=q)
                | Q(email__icontains=q)
            )
            .exclude(shared_accounts__account=account)
            .order_by("username")[:SEARCH_LIMIT]
        )
    return render_console(
        request, "console/accounts/_member_search.html", {"account": account, "users": users, "q": q}
    )


@require_POST
@capability_required("manage_users")
def shared_member_add(request: HttpRequest, pk: int) -> HttpResponse:
    account = _shared_account(pk)
    form = SharedMemberForm(request.POST)
    if not form.is_valid():
        for problem in form.errors.get("user", []):
            messages.error(request, problem)
        return redirect("console:account_detail", pk=account.pk)
    user = form.cleaned_data["user"]
    try:
        access.shared_member_add(actor=request.user, source=SOURCE, account=account, user=user)
    except DomainError as error:
        report_domain_error(request, error)
    else:
        messages.success(request, f"{user.username} can now use the shared account {account.identifier}.")
    return redirect("console:account_detail", pk=account.pk)


@require_POST
@capability_required("manage_users")
def shared_member_remove(request: HttpRequest, pk: int, member_id: int) -> HttpResponse:
    account = _shared_account(pk)
    member = get_object_or_404(
        SharedAccountMember.objects.select_related("user"), pk=member_id, account=account
    )
    try:
        access.shared_member_remove(actor=request.user, source=SOURCE, member=member)
    except DomainError as error:
        report_domain_error(request, error)
    else:
        messages.warning(
            request,
            f"{member.user.username} no longer uses {account.identifier}. They know its password: "
            "rotate it (a follow-up event was opened).",
        )
    return redirect("console:account_detail", pk=account.pk)


@require_POST
@capability_required("manage_config")
def console_role_set(request: HttpRequest, pk: int) -> HttpResponse:
    subject = get_object_or_404(User, pk=pk)
    form = ConsoleRoleForm(request.POST)
    if not form.is_valid():
        for problem in form.errors.get("role", []):
            messages.error(request, problem)
        return redirect("console:user_detail", pk=subject.pk)
    try:
        subject = users.console_role_set(
            actor=request.user, source=SOURCE, user=subject, role=form.cleaned_data["role"]
        )
    except DomainError as error:
        report_domain_error(request, error)
    else:
        label = subject.get_console_role_display() if subject.console_role else "no administrative role"
        messages.success(request, f"{subject.username} now has {label}.")
    return redirect("console:user_detail", pk=subject.pk)
