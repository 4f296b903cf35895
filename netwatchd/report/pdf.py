"""The report's HTML printed to an A4 PDF by WeasyPrint (an HTML/CSS-to-PDF engine).

WeasyPrint is an optional dependency (`pip install 'netwatchd[pdf]'`) that needs Pango from the
system (Debian: libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0, and a font such as
fonts-dejavu-core). Without it a PDF is refused with one line saying what to install; every other
format works.
"""

from __future__ import annotations

import logging
from typing import Any

from netwatchd.errors import ReportError

MISSING = ("PDF reports need WeasyPrint: pip install 'netwatchd[pdf]' (it installs the weasyprint "
           "package; on Debian/Ubuntu also apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 "
           "fonts-dejavu-core), or use --format html and print that page to PDF")


def available() -> bool:
    """Whether a PDF can be made here (WeasyPrint and its system libraries load)."""
    try:
        _weasyprint()
    except ReportError:
        return False
    return True


def _weasyprint() -> Any:
    try:
        import weasyprint  # type: ignore[import-untyped]
    except ImportError:
        raise ReportError(MISSING) from None
    except OSError as exc:       # the package is there, Pango is not
        raise ReportError(f"WeasyPrint is installed but cannot load its system libraries ({exc}): "
                          "apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0") from None
    return weasyprint


def render_pdf(html: str) -> bytes:
    """`html` (self-contained, with @page A4 rules) as PDF bytes. Raises ReportError when WeasyPrint
    is missing."""
    weasyprint = _weasyprint()
    for name in ("weasyprint", "weasyprint.progress", "fontTools"):   # CSS, progress and font chatter
        logging.getLogger(name).setLevel(logging.ERROR)
    return bytes(weasyprint.HTML(string=html).write_pdf())
