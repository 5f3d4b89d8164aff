"""mkdocs hook: number lists in the generated RESULTS.md (``[[4.0, 2.0], [2.0, 1.0]]``, or
``[4.0, 2.0] [2.0, 1.0]`` in a table) are shown as code, so that Markdown does not read them as
reference links."""

from __future__ import annotations

import re
from typing import Any

_LIST = r"\[[-0-9.,e ]*\]"
_NUMBERS = re.compile(rf"(?<!`)(?:\[{_LIST}(?:, {_LIST})*\]|{_LIST}(?: {_LIST})+)(?!`)")


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if page.file.src_uri != "RESULTS.md":
        return markdown
    return _NUMBERS.sub(lambda m: f"`{m.group(0)}`", markdown)
