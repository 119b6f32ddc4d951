"""Portal link ids: safe to type on a command line."""

from __future__ import annotations

from models.portal.links import _token_id


def test_a_link_id_never_reads_as_a_command_line_option() -> None:
    # `tandem portal revoke ID` took an id starting with "-" for an option (1 id in 64 did).
    ids = [_token_id() for _ in range(2000)]
    assert not any(i.startswith("-") for i in ids) and all(len(i) == 16 for i in ids)
