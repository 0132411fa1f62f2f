"""Finds English left on a page rendered in Brazilian Portuguese.

A page's text is split into the lines a person reads (one per text node); the names the data
carries (users, resources, entitlements, roles, organizations... which are whatever the
administrator typed, often English) are taken out first, and a line still holding a word of
English's everyday and user-interface vocabulary that Portuguese does not share is reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Words that are English only: not Portuguese words, not product or protocol names a Brazilian
# screen keeps (Status, Login, E-mail, Token, API, SAML, OIDC, SCIM, CSV, Workspace, Dashboard).
ENGLISH = frozenset(
    """
    the and or of to in on at by with without from into about after before between this that
    these those there here which who whom whose what when where why how all any each every some
    none not yes is are was were be been being has have had does did can could will would
    should must may might shall your you our we they their them it its my he she his her
    add added adding remove removed delete deleted edit edited save saved cancel canceled cancelled
    new create created update updated change changed changes show hide search filter filters sort
    export import imported next previous back more less first last page pages of results result
    name names user users account accounts role roles resource resources entitlement entitlements
    organization organizations request requests requested requester task tasks queue queues
    approve approved approval approvals approver approvers reject rejected disapprove disapproved
    deny denied grant granted revoke revoked active inactive enabled disabled enable disable
    open opened closed close pending waiting done failed success successful error errors warning
    date day days hour hours minute minutes week month year today yesterday tomorrow ago
    description details detail type kind owner owners member members manager managers
    settings setting policy policies rule rules level levels password passwords secret secrets
    review reviews reviewer campaign campaigns expire expires expired expiring
    submit send sent sign required optional reason comment comments
    nothing everything something everyone anyone nobody someone only also again still yet
    please sorry cannot can't don't doesn't isn't won't already never always
    view views list lists history members' value values attribute attributes
    home my team mine assigned unassigned overdue due
    """.split()
)
#: Whole words of English that must be matched case-sensitively only (short ones that clash with
#: Portuguese in lower case would go here); empty for now.
# a word is letters of any script ("Papéis" is one word, not "Pap" and "is")
WORD = re.compile(r"[^\W\d_][^\W\d_']*")


def data_names(extra: Iterable[str] = ()) -> list[str]:
    """The names the database holds, longest first (so "GitHub admins" goes before "GitHub")."""
    from blazon.audit.models import AuditEvent
    from directory.models import Account, Entitlement, Organization, Resource, Role, User

    names: set[str] = set(extra)
    for model, fields in [
        (User, ("username", "first_name", "last_name", "display_name", "email")),
        (Resource, ("code", "name")),
        (Entitlement, ("identifier", "name")),
        (Role, ("code", "name")),
        (Organization, ("code", "name")),
        (Account, ("identifier",)),
    ]:
        present = [f for f in fields if any(x.name == f for x in model._meta.get_fields())]
        for row in model.objects.values_list(*present):
            names.update(str(v) for v in row if v)
    # what the audit log stored as an object's name when it wrote the event ("ADD X on Role")
    names.update(AuditEvent.objects.exclude(object_repr="").values_list("object_repr", flat=True).distinct())
    return sorted((n for n in names if len(n) > 1), key=len, reverse=True)


#: What is code, not language: identifiers and paths (``account.created``, ``directory.User``,
#: ``user.<field>``, ``docs/passwords.md``, ``America/New_York``, ``{first}.{last}``,
#: ``--stage-next``), comma-joined column lists (``type,beneficiary,...``), enum codes in
#: capitals (``INACTIVE``, ``CREATE_USER``) and a line that is one lowercase key (``reason``).
CODE = re.compile(r"\S*[_/<>{}\[\]=@#]\S*|\S*\w[.:-]\w\S*|\S+,\S+|\b[A-Z][A-Z0-9_]+\b")
KEY_LINE = re.compile(r"^[a-z][a-z0-9_]*$")
#: Code quoted in a sentence ('owner: username IEQUALS {[login]}', "in"): not language either.
QUOTED = re.compile(r"(?<!\w)'[^'\n]+'(?!\w)|\"[^\"\n]+\"|“[^”\n]+”")


def english_lines(text: str, names: Iterable[str] = ()) -> list[str]:
    """The lines of ``text`` that still read as English once the data's ``names`` and the code
    in it (``CODE``) are removed."""
    names = list(names)
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        stripped = line
        for name in names:
            if name in stripped:  # whole words only: "Ada" is a name, "Cancelada" is not
                stripped = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", " ", stripped)
        if KEY_LINE.match(stripped):
            continue
        stripped = CODE.sub(" ", QUOTED.sub(" ", stripped))
        words = [w.lower() for w in WORD.findall(stripped)]
        if any(w in ENGLISH for w in words):
            found.append(line[:120])
    return found
