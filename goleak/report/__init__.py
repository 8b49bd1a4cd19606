"""Reports: a view model built once (view.py), then one small renderer per format."""
import enum
from typing import Callable, Dict


class Format(str, enum.Enum):
    TEXT = "text"
    MARKDOWN = "markdown"
    HTML = "html"
    JSON = "json"


_MODULES: Dict[Format, str] = {
    Format.TEXT: "text_report",
    Format.MARKDOWN: "markdown_report",
    Format.HTML: "html_report",
    Format.JSON: "json_report",
}


def renderer_for(fmt: Format, view: object = None) -> Callable:
    """The render function of a format: render(view, options) -> str."""
    return _module_for(fmt, view).render


def chunk_renderer_for(fmt: Format, view: object = None) -> Callable:
    """The format's render, in pieces: render_chunks(view, options) -> iterable of str, for
    the formats whose big reports are written piece by piece (JSON); one piece otherwise."""
    module = _module_for(fmt, view)
    if hasattr(module, "render_chunks"):
        return module.render_chunks
    return lambda view, options=None: [module.render(view, options)]


def _module_for(fmt: Format, view: object):
    """The format's renderer module. Only that one is imported (JSON and text need no
    Jinja2: a tenth of a second of start-up); the gate and watch reports register
    themselves with every format when such a view is to be rendered, or when no view is
    named."""
    import importlib
    from goleak.report.compare_view import CompareView
    from goleak.report.view import SummaryView
    if not isinstance(view, (SummaryView, CompareView)):
        from goleak.report import gate_report  # noqa: F401
    return importlib.import_module("goleak.report." + _MODULES[fmt])
