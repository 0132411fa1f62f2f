"""Console pages of SIEM forwarding (``/console/siem/``)."""

from django.urls import path

from siem import views

console_urlpatterns = [
    path("destinations/", views.DestinationList.as_view(), name="destinations"),
    path("destinations/new/", views.destination_edit, name="destination_new"),
    path("destinations/<int:pk>/edit/", views.destination_edit, name="destination_edit"),
    path("destinations/<int:pk>/delete/", views.DestinationDelete.as_view(), name="destination_delete"),
    path("destinations/<int:pk>/test/", views.destination_test, name="destination_test"),
]
