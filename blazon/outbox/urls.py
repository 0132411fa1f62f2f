from django.urls import path

from blazon.outbox import views

urlpatterns = [
    path("work/", views.work, name="work"),
    path("work/<int:pk>/retry/", views.retry, name="retry"),
]
