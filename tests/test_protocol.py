"""``_protocol``'s header check: the quick pass over all headers at once says "fine" exactly when
the header-by-header check finds nothing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cloudtasks_kit._protocol import MAX_HEADERS_SIZE, _all_fine, _problems, header_problems

NAMES = st.one_of(
    st.sampled_from(["X-Request-Id", "x-request-id", "Content-Type", "a", "a\nb", "", "é", "a b"]),
    st.text(max_size=8),
)
VALUES = st.one_of(
    st.sampled_from(
        ["", "v", "a\r\nInjected: 1", "\x00", "\t", "é", "x" * (MAX_HEADERS_SIZE // 2)]
    ),
    st.text(max_size=8),
)


@given(st.dictionaries(NAMES, VALUES, max_size=4))
def test_the_quick_pass_agrees_with_the_full_check(headers: dict[str, str]) -> None:
    assert _all_fine(headers) == (not _problems(headers))
    assert header_problems(headers) == _problems(headers)


def test_a_name_holding_a_newline_is_not_two_names() -> None:
    assert not _all_fine({"a\nb": "x"})
    assert header_problems({"a\nb": "x"}) == [
        "'a\\nb' is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)"
    ]


def test_the_size_limit_is_counted_as_the_full_check_counts_it() -> None:
    name = "X-Big"
    just_under = {name: "x" * (MAX_HEADERS_SIZE - len(name) - 4 - 1)}
    at_limit = {name: "x" * (MAX_HEADERS_SIZE - len(name) - 4)}
    assert header_problems(just_under) == []
    assert _all_fine(just_under)
    assert not _all_fine(at_limit)
    assert header_problems(at_limit) == _problems(at_limit) != []
