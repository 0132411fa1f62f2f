"""Configuration objects of the directory, one module per subject: organizations, resources,
the catalog (entitlements and role metadata), attribute definitions and the username policy.

Every service is keyword-only, takes ``actor`` and ``source``, runs in one transaction, writes
its audit event (old and new values) in that transaction through ``blazon.changes``
(``config_create`` / ``config_update`` / ``config_delete``) and raises ``ValidationFailed`` or
``Conflict`` with ``fields`` on bad input, having changed nothing. Adding or removing the items
of a role is not here: it fans out to the members and goes through
``directory.services.access.role_change_submit``.

``directory.services.config.<name>`` keeps working for every public name (this package
re-exports them); new code may import from the subject's module.
"""

from directory.services.config.attributes import (
    ATTRIBUTE_FIELDS,
    ATTRIBUTE_FIXED,
    attribute_definition_create,
    attribute_definition_delete,
    attribute_definition_update,
)
from directory.services.config.catalog import (
    ENTITLEMENT_FIELDS,
    ROLE_FIELDS,
    entitlement_create,
    entitlement_delete,
    entitlement_update,
    role_create,
    role_delete,
    role_update,
)
from directory.services.config.organizations import (
    ORGANIZATION_FIELDS,
    organization_create,
    organization_delete,
    organization_update,
)
from directory.services.config.resources import (
    RESOURCE_FIELDS,
    provisioning_modes_validate,
    resource_create,
    resource_delete,
    resource_update,
)
from directory.services.config.usernames import (
    USERNAME_PLACEHOLDERS,
    USERNAME_POLICY_FIELDS,
    username_patterns_validate,
    username_policy_update,
)

__all__ = [
    "ATTRIBUTE_FIELDS",
    "ATTRIBUTE_FIXED",
    "ENTITLEMENT_FIELDS",
    "ORGANIZATION_FIELDS",
    "RESOURCE_FIELDS",
    "ROLE_FIELDS",
    "USERNAME_PLACEHOLDERS",
    "USERNAME_POLICY_FIELDS",
    "attribute_definition_create",
    "attribute_definition_delete",
    "attribute_definition_update",
    "entitlement_create",
    "entitlement_delete",
    "entitlement_update",
    "organization_create",
    "organization_delete",
    "organization_update",
    "provisioning_modes_validate",
    "resource_create",
    "resource_delete",
    "resource_update",
    "role_create",
    "role_delete",
    "role_update",
    "username_patterns_validate",
    "username_policy_update",
]
