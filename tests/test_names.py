"""One name per concept: the same thing is one type, with one set of field names, wherever
codexrs hands it out (a turn's result, a manager's sums, the server's JSON, batch records)."""

from __future__ import annotations

import dataclasses
import warnings

import pytest

import codexrs
from codexrs import events, requests
from codexrs.batch._record import RecordUsage
from codexrs.manager import usage_json


def test_every_usage_has_the_fields_of_one_usage() -> None:
    fields = [f.name for f in dataclasses.fields(codexrs.Usage)]
    assert "input_tokens" in fields and "total_tokens" in fields
    assert issubclass(codexrs.ManagerUsage, codexrs.Usage)
    assert list(RecordUsage.__struct_fields__) == fields
    assert list(usage_json(codexrs.Usage(input_tokens=3))) == fields
    summed = usage_json(codexrs.ManagerUsage())
    assert list(summed)[: len(fields)] == fields


def test_one_request_kind_type() -> None:
    assert requests.RequestKind is events.RequestKind is codexrs.RequestKind
    with pytest.warns(DeprecationWarning, match="RequestKind"):
        assert events.RequestKindName is events.RequestKind


def test_the_request_denial_event_is_named_for_requests() -> None:
    with pytest.warns(DeprecationWarning, match="RequestDenied"):
        assert events.ApprovalAutoDenied is events.RequestDenied
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert events.RequestDenied.__name__ == "RequestDenied"
