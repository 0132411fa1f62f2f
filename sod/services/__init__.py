"""The SoD services: rules (``rules``), the preventive check (``check``), the tasks of a request's
conflicts (``conflicts``), exceptions (``exceptions``), task decisions (``decide``) and the
detective scan (``scan``). The request pipeline imports the check from here."""

from sod.services.check import Conflict, sod_check_request, sod_check_requests

__all__ = ["Conflict", "sod_check_request", "sod_check_requests"]
