from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("customers/", views.customer_search, name="customer-search"),
    path("customers/<str:external_id>/", views.customer_detail, name="customer-detail"),
]
