from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from crm_scorecard import health
from crm_scorecard.accounts import oidc
from crm_scorecard.api.endpoints import api

urlpatterns = [
    path("login/", oidc.SignInPage.as_view(), name="login"),  # with the SSO button when set
    path("oidc/", include(oidc.urlpatterns)),  # single sign-on: 404 unless OIDC_ISSUER is set
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("healthz", health.healthz, name="healthz"),  # probes: no sign-in, no data
    path("readyz", health.readyz, name="readyz"),
    path("", include("crm_scorecard.web.urls")),
]
