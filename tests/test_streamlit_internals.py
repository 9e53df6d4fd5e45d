"""The Streamlit internals the app uses (uap_app.streamlit_internals) are still there, with the shape the app expects:
this fails on an upgrade of Streamlit that moves or changes them, before a deploy does."""

import dataclasses
import inspect

import pytest
import streamlit
from streamlit import runtime
from streamlit.runtime.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.testing.v1 import AppTest

from uap_app import streamlit_internals


def test_the_script_run_context_gives_the_session_id():
    assert callable(get_script_run_ctx)
    required = [
        parameter
        for parameter in inspect.signature(get_script_run_ctx).parameters.values()
        if parameter.default is inspect.Parameter.empty
    ]
    assert required == [], f"get_script_run_ctx now needs {required} (Streamlit {streamlit.__version__})"
    context_type = inspect.signature(get_script_run_ctx).return_annotation
    assert "ScriptRunContext" in str(context_type)
    from streamlit.runtime.scriptrunner_utils.script_run_context import ScriptRunContext

    assert "session_id" in {field.name for field in dataclasses.fields(ScriptRunContext)}


def test_the_runtime_answers_whether_a_session_is_active():
    assert callable(runtime.exists) and callable(runtime.get_instance)
    assert list(inspect.signature(runtime.exists).parameters) == []
    assert list(inspect.signature(runtime.get_instance).parameters) == []
    parameters = list(inspect.signature(Runtime.is_active_session).parameters)
    assert parameters == ["self", "session_id"], (
        f"Runtime.is_active_session{parameters} (Streamlit {streamlit.__version__})"
    )
    assert "SAFE" in (Runtime.is_active_session.__doc__ or ""), "no longer documented as safe on any thread"


def test_a_script_run_gets_its_session_id():
    def script():
        import streamlit as st

        from uap_app.streamlit_internals import session_id

        st.text(session_id())

    app = AppTest.from_function(script).run()
    assert not app.exception, app.exception
    assert len(app.text) == 1 and app.text[0].value.strip(), "no session id in a script run"


def test_outside_a_script_run_there_is_no_session_id():
    with pytest.raises(RuntimeError, match="outside a Streamlit script run"):
        streamlit_internals.session_id()


def test_without_a_server_every_session_counts_as_active():
    assert not runtime.exists()  # no `streamlit run` in the test process
    assert streamlit_internals.session_is_active("any session")
