"""Showing a whole HTML page inline in Jupyter."""

from __future__ import annotations

import html


def notebook_frame(page: str, *, height_px: int = 640) -> str:
    """``page`` (a whole HTML document) inside an ``<iframe srcdoc>`` for ``_repr_html_``.

    A frame keeps the page's styles and scripts from touching the notebook's own, and
    lets a page that includes plotly.js display offline.

    Examples
    --------
    >>> notebook_frame("<p>a & b</p>").startswith('<iframe srcdoc="&lt;p&gt;a &amp; b')
    True
    """
    escaped = html.escape(page, quote=True)
    return (
        f'<iframe srcdoc="{escaped}" style="width:100%;height:{height_px}px;border:0" '
        'sandbox="allow-scripts"></iframe>'
    )
