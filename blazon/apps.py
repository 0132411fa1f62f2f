from django.apps import AppConfig


class BlazonConfig(AppConfig):
    name = "blazon"
    verbose_name = "Blazon kernel"
