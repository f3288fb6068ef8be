"""Languages of the pages: Chinese (zh_CN) by default, English one click away.

The source strings are Chinese (the people who use the pages work in Chinese); the English
catalog is `mediation/translations/en/LC_MESSAGES/messages.po`, compiled to `messages.mo`
(`pybabel extract -F babel.cfg -o messages.pot . && pybabel update -i messages.pot
-d mediation/translations && pybabel compile -d mediation/translations`).
The choice is kept in the login session's cookie, under `lang`.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, session
from flask_babel import Babel, get_locale

DEFAULT = "zh_CN"
LANGUAGES = {"zh_CN": ("zh-CN", "中文"), "en": ("en", "English")}

babel = Babel()


def select_locale() -> str:
    lang = session.get("lang")
    return lang if lang in LANGUAGES else DEFAULT


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(Path(__file__).parent / "translations"))
    babel.init_app(app, locale_selector=select_locale)

    @app.context_processor
    def languages():
        current = str(get_locale() or DEFAULT)
        current = current if current in LANGUAGES else DEFAULT
        return {"html_lang": LANGUAGES[current][0], "current_lang": current,
                "languages": [(code, label) for code, (_tag, label) in LANGUAGES.items()]}
