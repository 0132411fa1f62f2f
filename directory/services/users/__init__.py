"""Identities: users, their administrator-defined attributes and the username policy (seed 002,
"Gestão de identidade": a user is created only when the username policy finds a free username
and every required attribute is filled).

One module per action: ``create`` / ``update`` serve the console, the workspace and the API one
user at a time, ``console_role`` grants the internal administrative roles, ``bulk`` is the
importer's path; ``usernames``, ``attributes`` and ``fields`` hold the checks they share.
Status changes are not here: they are life-cycle transitions (``directory.services.lifecycle``).

The names below are re-exported for one release; import them from their module.
"""

from directory.services.users.attributes import attribute_values_validate
from directory.services.users.bulk import (
    ACCOUNT_COLUMNS,
    BULK_CHUNK,
    MAX_REPORTED_ROWS,
    USER_COLUMNS,
    users_bulk_create,
)
from directory.services.users.console_role import console_role_set
from directory.services.users.create import user_create
from directory.services.users.fields import AUDITED, TEXT_FIELDS, USER_FIELDS
from directory.services.users.update import user_update
from directory.services.users.usernames import (
    NAME_PARTICLES,
    USERNAME_MAX_LENGTH,
    ascii_fold,
    username_generate,
    username_placeholders,
)

__all__ = [
    "ACCOUNT_COLUMNS",
    "AUDITED",
    "BULK_CHUNK",
    "MAX_REPORTED_ROWS",
    "NAME_PARTICLES",
    "TEXT_FIELDS",
    "USERNAME_MAX_LENGTH",
    "USER_COLUMNS",
    "USER_FIELDS",
    "ascii_fold",
    "attribute_values_validate",
    "console_role_set",
    "user_create",
    "user_update",
    "username_generate",
    "username_placeholders",
    "users_bulk_create",
]
