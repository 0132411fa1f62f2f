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
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from django.views.decorators.http import require_GET

from blazon.console import ObjectActionView, capability_required, render_console
from directory.models import Account, AccountType, SharedAccountMember, User, UserStatus
from directory.services import access, users
from directory.views.forms import ConsoleRoleForm, SharedMemberForm

SOURCE = "console"
SEARCH_LIMIT = 10


class SharedAccountButton(ObjectActionView):
    """A button of a shared account's members panel (the account page)."""

    capability, detail_route, object_kwarg = "manage_users", "console:account_detail", "account"
    queryset = Account.objects.select_related("resource").filter(account_type=AccountType.SHARED)


class SharedMemberRemove(SharedAccountButton):
    object_kwarg, done_level = "member", messages.WARNING  # the former member knows the password

    def get_object(self) -> SharedAccountMember:
        members = SharedAccountMember.objects.select_related("user", "account")
        return get_object_or_404(members, pk=self.kwargs["member_id"], account=super().get_object())

    def detail_url(self, member: SharedAccountMember) -> str:
        return super().detail_url(member.account)

    def done_text(self, member: SharedAccountMember, result: None) -> str:
        return gettext(
            "%(username)s no longer uses %(account)s. They know its password: "
            "rotate it (a follow-up event was opened)."
        ) % {"username": member.user.username, "account": member.account.identifier}


shared_member_add = SharedAccountButton.as_view(
    action=access.shared_member_add,
    form_class=SharedMemberForm,
    done_text=lambda account, member: (
        gettext("%(username)s can now use the shared account %(account)s.")
        % {"username": member.user.username, "account": account.identifier}
    ),
)
shared_member_remove = SharedMemberRemove.as_view(action=access.shared_member_remove)


@require_GET
@capability_required("manage_users")
def shared_member_search(request: HttpRequest, pk: int) -> HttpResponse:
    """The htmx fragment under the "add member" box: ACTIVE users matching what was typed, who
    are not members yet, each with its own add button."""
    account = get_object_or_404(SharedAccountButton.queryset, pk=pk)
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


def _role_set(user: User, changed: User) -> str:
    if not changed.console_role:
        return gettext("%(username)s now has no administrative role.") % {"username": changed.username}
    return gettext("%(username)s now has %(role)s.") % {
        "username": changed.username,
        "role": changed.get_console_role_display(),
    }


console_role_set = ObjectActionView.as_view(
    model=User,
    action=users.console_role_set,
    form_class=ConsoleRoleForm,
    detail_route="console:user_detail",
    done_text=_role_set,
)
