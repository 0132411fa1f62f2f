"""The console's edit forms: a form an edit screen fills from the object it edits, so a form
lists its fields once instead of again in an ``initial`` dictionary. The forms check the shape
of the input; the services check the rules (which is why these are not model forms: a model
form would write the input onto the object before the service has said yes)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Manager


class ObjectForm(forms.Form):
    """A field's initial value is the edited object's attribute of the same name (the id of a
    foreign key for a ``ModelChoiceField``, the rows of a many-to-many field; a field's ``prepare_value`` shows anything else, e.g.
    a user as a username). ``initial_from`` adds what has another shape on the form (lines of
    text for a list). ``instance`` is the object (None for a new one)."""

    def __init__(self, *args: Any, instance: Any = None, **kwargs: Any) -> None:
        self.instance = instance
        if instance is not None:
            kwargs.setdefault("initial", self.initial_from(instance))
        super().__init__(*args, **kwargs)

    @classmethod
    def initial_from(cls, obj: Any) -> dict[str, Any]:
        initial: dict[str, Any] = {}
        for name, field in cls.base_fields.items():
            if isinstance(field, forms.ModelChoiceField) and hasattr(obj, f"{name}_id"):
                initial[name] = getattr(obj, f"{name}_id")
            elif hasattr(obj, name):
                value = getattr(obj, name)
                initial[name] = value.all() if isinstance(value, Manager) else value  # many-to-many
        return initial
