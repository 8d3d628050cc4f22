from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core.errors import NotFoundView
from core.health import HealthView
from core.metrics import metrics_view_build
from etl.metrics import etl_families, queue_families
from etl.selectors import etl_freshness

admin.site.site_header = "Kasparro"
admin.site.site_title = "Kasparro admin"
admin.site.index_title = "Market data and the pipeline"

urlpatterns = [
    path("health", HealthView.as_view(freshness=etl_freshness), name="health"),
    path("metrics", metrics_view_build(parts={"database": etl_families, "broker": queue_families}), name="metrics"),
    path("", include("coins.urls")),
    path("", include("etl.urls")),
    path("admin/", admin.site.urls),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    # Split: the page loads its start-up script from /docs?script, so no inline script is needed.
    path("docs", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("api-auth/", include("rest_framework.urls")),
    re_path(r"", NotFoundView.as_view(), name="unmatched"),  # the name HTTP metrics give what no route serves
]
