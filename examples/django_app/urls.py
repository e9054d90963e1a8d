"""The routes; ``customers/find`` comes before ``customers/<id>``."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("customers", views.intake),
    path("customers/find", views.find),
    path("customers/<str:customer_id>", views.customer),
    path("customers/<str:customer_id>/export", views.export),
    path("customers/<str:customer_id>/erasure", views.erase),
]
