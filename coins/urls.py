from django.urls import path

from coins.apis import CoinDetailView, CoinListView, CoinPriceHistoryView, DisagreementListView, QuoteListView

urlpatterns = [
    path("data", QuoteListView.as_view(), name="data"),
    path("coins", CoinListView.as_view(), name="coins"),
    path("coins/<slug:slug>", CoinDetailView.as_view(), name="coin"),
    path("coins/<slug:slug>/history", CoinPriceHistoryView.as_view(), name="coin-history"),
    path("disagreements", DisagreementListView.as_view(), name="disagreements"),
]
