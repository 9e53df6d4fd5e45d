"""The two things the app needs from Streamlit that its public API does not offer, in one place.

The live page names each visitor's session, and the run manager asks whether that session's browser is still
there, so a closed tab frees its run within a second instead of after its heartbeats lapse. Streamlit's public API
has neither a session id (``st.context`` offers cookies, headers, the IP address, locale, theme, time zone and URL)
nor a way to ask about another session. Both come from ``streamlit.runtime`` here; ``tests/test_streamlit_internals.py``
fails when an upgrade of Streamlit moves or changes them.
"""

from __future__ import annotations

from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx


def session_id() -> str:
    """The id of the Streamlit session whose script run calls this: the key the server knows the browser tab by.

    Internal: ``streamlit.runtime.scriptrunner.get_script_run_ctx().session_id``. A session id in ``st.context`` (or
    any public value that :func:`session_is_active` could be asked about) would replace it.
    """
    context = get_script_run_ctx()
    if context is None:
        raise RuntimeError("session_id() is called outside a Streamlit script run (a worker thread has no session)")
    return context.session_id


def session_is_active(session_id: str) -> bool:
    """False once the browser of session ``session_id`` has gone (a closed tab, a page left for another site).

    Internal: ``streamlit.runtime.get_instance().is_active_session``, which Streamlit documents as safe on any thread;
    the run manager calls this from its own thread. Without a server (``AppTest``, bare mode) every session counts as
    active. A public callback when a session ends would replace it.
    """
    return not runtime.exists() or runtime.get_instance().is_active_session(session_id)
