"""Offline API pages for the Flask variant: Swagger UI at ``/docs`` and ReDoc at ``/redoc``, from local files.

The FastAPI app gets the same pages from ``fastapi_offline.FastAPIOffline``; this module serves the very files that
package ships (Swagger UI's bundle and CSS, ReDoc's standalone bundle, a favicon) at the same URL, with the HTML
FastAPI writes for its own pages, so both variants show the same documentation and neither needs a network.
"""

from __future__ import annotations

from pathlib import Path

ASSETS_URL = "/static-offline-docs"  # where fastapi_offline mounts its files; the Flask variant uses the same path
ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def assets_dir() -> Path:
    """The folder of Swagger UI and ReDoc files shipped in the ``fastapi-offline`` package."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def swagger_page(title: str, openapi_url: str = "/openapi.json") -> bytes:
    """The HTML of the Swagger UI page, loading its script and style from ``ASSETS_URL``."""
    from fastapi.openapi.docs import get_swagger_ui_html

    return bytes(get_swagger_ui_html(
        openapi_url=openapi_url, title=f"{title} - Swagger UI", swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css", swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
    ).body)  # fmt: skip


def redoc_page(title: str, openapi_url: str = "/openapi.json") -> bytes:
    """The HTML of the ReDoc page, loading its script from ``ASSETS_URL`` (and no web fonts)."""
    from fastapi.openapi.docs import get_redoc_html

    return bytes(get_redoc_html(
        openapi_url=openapi_url, title=f"{title} - ReDoc", redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{ASSETS_URL}/favicon.png", with_google_fonts=False,
    ).body)  # fmt: skip
