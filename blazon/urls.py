from django.contrib import admin
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import include, path


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("", lambda request: redirect("/console/")),
    path("healthz", healthz),
    path("django-admin/", admin.site.urls),
    path("api/", include("blazon.api.urls")),
]
