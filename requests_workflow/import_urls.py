"""URL map of the import pages, ``/console/imports/`` (namespace ``console_imports``), included
from ``blazon/urls.py``."""

from __future__ import annotations

from django.urls import path

from requests_workflow import import_views

app_name = "console_imports"

urlpatterns = [
    path("", import_views.import_list, name="list"),
    path("<int:pk>/", import_views.import_detail, name="detail"),
    path("<int:pk>/run/", import_views.import_start, name="run"),
    path("<int:pk>/progress/", import_views.import_progress, name="progress"),
    path("<int:pk>/result.csv", import_views.import_result, name="result"),
]
