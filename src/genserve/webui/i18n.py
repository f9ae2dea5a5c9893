"""The web UI's languages: English and 简体中文, from gettext catalogues read with Babel.

Every string the page shows is written in English in the code, wrapped in ``_()`` (or ``N_()``
where it is defined before a language is known), and translated from ``locales/<lang>.po``, one
catalogue per language beside this module; parameter titles and help texts are the Params models'
own ``title``/``description`` (their English text is the catalogue key, so a parameter added to a
model asks for its translation in ``tests/integration/test_webui_i18n.py``). English is the fallback
for anything a catalogue lacks.

The language of a page: the ``genserve_lang`` cookie (the switch on the page sets it), else the
browser's ``Accept-Language``, else English. The REST API and the CLI stay English.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Any

from genserve.tasks.base import N_  # "translate later": one marker for the UI's and the tasks' keys

LOCALES = Path(__file__).with_name("locales")
LANGUAGES: dict[str, str] = {"en": "English", "zh-CN": "简体中文"}
DEFAULT = "en"
COOKIE = "genserve_lang"
COOKIE_MAX_AGE_S = 365 * 24 * 3600


__all__ = ["N_", "Translator", "messages", "missing", "negotiate", "page_path"]


def catalogue_path(lang: str) -> Path:
    return LOCALES / f"{lang.replace('-', '_')}.po"


@lru_cache(maxsize=len(LANGUAGES))
def _translations(lang: str) -> Any:
    """Babel's gettext translations for ``lang``, compiled in memory from its .po catalogue."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import Translations

    with catalogue_path(lang).open("rb") as po:
        catalog = read_po(po, locale=lang.replace("-", "_"))
    mo = io.BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    return Translations(mo)


class Translator:
    """``_("text {name}", name=...)``: the text in this language, then formatted."""

    def __init__(self, lang: str = DEFAULT) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT

    def gettext(self, message: str) -> str:
        if not message:
            return message
        return str(_translations(self.lang).gettext(message))

    def __call__(self, msgid: str, /, **values: Any) -> str:
        text = self.gettext(msgid)
        return text.format(**values) if values else text

    @property
    def english(self) -> bool:
        return self.lang == "en"


def negotiate(accept_language: str | None, cookie: str | None = None) -> str:
    """The page's language: the remembered choice, else the browser's, else English."""
    if cookie in LANGUAGES:
        return str(cookie)
    from babel.core import negotiate_locale

    wanted = []
    for part in (accept_language or "").split(","):
        tag, _, q = part.strip().partition(";q=")
        if tag:
            try:
                weight = float(q) if q else 1.0
            except ValueError:
                weight = 0.0
            wanted.append((weight, tag.replace("-", "_")))
    ordered = [tag for _, tag in sorted(wanted, key=lambda w: -w[0])]
    available = [code.replace("-", "_") for code in LANGUAGES]
    # NOTE: a bare "zh" (or zh-Hans, zh-SG) reads simplified Chinese; zh-TW / zh-HK are not offered
    aliases = {"zh": "zh_CN", "zh_hans": "zh_CN", "zh_sg": "zh_CN", "zh_hans_cn": "zh_CN"}  # lower case
    found = negotiate_locale(ordered, available, aliases=aliases)
    code = str(found or DEFAULT).replace("_", "-")
    return code if code in LANGUAGES else DEFAULT


def page_path(lang: str, ui_path: str) -> str:
    """Where the page in ``lang`` is served: English at ``ui_path``, others below it."""
    return f"{ui_path}/" if lang == DEFAULT else f"{ui_path}/{lang}/"


def messages() -> list[str]:
    """Every text the page can show, in English: the strings wrapped in ``_``/``N_``/``t`` in the
    UI's code and in ``N_`` in genserve's own task modules (their upload suggestions), and the task
    specs' titles, descriptions, inputs and preset names, the Params fields' titles and descriptions
    and the descriptions of the backends genserve ships (translated where shown; a plugin's task
    or backend keeps its own words where the catalogues lack them)."""
    from babel.messages.extract import extract_from_dir

    from genserve.backends.registry import backend_classes
    from genserve.tasks import TASKS
    from genserve.webui.forms import form_specs

    found: dict[str, None] = {}
    keywords = {"_": None, "N_": None, "t": None}
    here = Path(__file__).parent
    task_modules = here.parent / "tasks"
    for folder, marks in ((here, keywords), (task_modules, {"N_": None})):
        for _file, _line, message, _comments, _context in extract_from_dir(
            folder, method_map=[("*.py", "python")], keywords=marks
        ):
            if isinstance(message, str) and message:
                found[message] = None
    for spec in TASKS.values():
        found.update(dict.fromkeys([spec.title, spec.description, *spec.presets]))
        for media in spec.inputs:
            found.update(dict.fromkeys([media.name.capitalize(), media.description, media.kind]))
        for widget in form_specs(spec.params_model):
            found.update(dict.fromkeys(m for m in (widget.label, widget.info) if m))
    for cls in backend_classes().values():
        if cls.task in TASKS and cls.__module__.startswith("genserve.backends.") and cls.description:
            found[cls.description] = None
    return list(found)


def missing(lang: str) -> list[str]:
    """The page's texts that ``lang``'s catalogue does not translate (English: does not list)."""
    from babel.messages.pofile import read_po

    with catalogue_path(lang).open("rb") as po:
        catalog = read_po(po)
    out = []
    for message in messages():
        entry = catalog.get(message)
        if entry is None or (lang != DEFAULT and not entry.string) or entry.fuzzy:
            out.append(message)
    return out


if __name__ == "__main__":  # python -m genserve.webui.i18n: what each catalogue lacks
    for code in LANGUAGES:
        for text in missing(code):
            print(f"{catalogue_path(code).name}: {text!r}")
