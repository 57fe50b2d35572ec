"""Where each admin resource lives in the URL space (admin-api.md).

Kept apart from ``schemas.py`` so registering the routes when app.py is imported needs
nothing but these few names; the schemas load with the first admin request.
"""

from __future__ import annotations

from typing import NamedTuple

OPENAPI_PATH = "/v1/openapi.json"
CATALOG_VERSION_PATH = "/v1/catalog/version"
SETTINGS_PATH = "/v1/settings"
EXPORT_PATH = "/v1/catalog/export"
IMPORT_PATH = "/v1/catalog/import"
BULK_SUFFIX = "/bulk"  # POST <collection>/bulk: up to 1,000 objects (admin/bulk.py)
# Audience insight reports (docs/insight.md): GET /v1/reports/<name>.
REPORTS_PREFIX = "/v1/reports"
REPORT_NAMES = ("populations", "trend", "overlap", "datasources")


class ResourcePath(NamedTuple):
    kind: str  # catalog kind (store)
    collection: str  # path of the collection, no trailing slash
    id_field: str
    parent_field: str | None = None  # mappings: destinationId, set from the path

    @property
    def item_path(self) -> str:
        return f"{self.collection}/{{{self.id_field}}}"


DATASOURCE = ResourcePath("datasource", "/v1/datasources", "dataSourceId")
PROVIDER = ResourcePath("provider", "/v1/providers", "pid")
TRAIT = ResourcePath("trait", "/v1/traits", "sid")
SEGMENT = ResourcePath("segment", "/v1/segments", "sid")
DESTINATION = ResourcePath("destination", "/v1/destinations", "destinationId")
MAPPING = ResourcePath(
    "mapping", "/v1/destinations/{destinationId}/mappings", "mappingId", "destinationId"
)
MERGERULE = ResourcePath("mergerule", "/v1/mergerules", "mergeRuleId")  # identity.md 3
RESOURCE_PATHS: tuple[ResourcePath, ...] = (
    DATASOURCE, PROVIDER, TRAIT, SEGMENT, DESTINATION, MAPPING, MERGERULE
)
