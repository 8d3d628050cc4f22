from django.apps import AppConfig


class CoinsConfig(AppConfig):
    name = "coins"
    verbose_name = "Market data"
