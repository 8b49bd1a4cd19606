"""Reports: a view model built once (view.py), then one small renderer per format."""
import enum
from typing import Callable, Dict


class Format(str, enum.Enum):
    TEXT = "text"
    MARKDOWN = "markdown"
    HTML = "html"
    JSON = "json"


def renderer_for(fmt: Format) -> Callable:
    """The render function of a format: render(view, options) -> str."""
    from goleak.report import html_report, json_report, markdown_report, text_report
    from goleak.report import gate_report  # noqa: F401  (registers the gate and watch views)
    table: Dict[Format, Callable] = {
        Format.TEXT: text_report.render,
        Format.MARKDOWN: markdown_report.render,
        Format.HTML: html_report.render,
        Format.JSON: json_report.render,
    }
    return table[fmt]
