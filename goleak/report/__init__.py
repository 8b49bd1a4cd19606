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
    from goleak.report import json_report, text_report
    table: Dict[Format, Callable] = {
        Format.TEXT: text_report.render,
        Format.JSON: json_report.render,
    }
    try:
        from goleak.report import markdown_report
        table[Format.MARKDOWN] = markdown_report.render
    except ImportError:
        pass
    try:
        from goleak.report import html_report
        table[Format.HTML] = html_report.render
    except ImportError:
        pass
    if fmt not in table:
        from goleak.errors import UsageError
        raise UsageError("the %s format is not available yet" % fmt.value)
    return table[fmt]
