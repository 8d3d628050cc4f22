from django.urls import path

from coins.views import QuoteListView

urlpatterns = [
    path("data", QuoteListView.as_view(), name="data"),
]
