"""`tandem payment terms|add|list|requests|answer|law`, `tandem statement` and `tandem relationship declare`,
driven as a user would, with every refusal naming its flag."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session, select

from models.core.calendar import today_local
from models.core.db import get_engine
from models.payments.requests import request_about
from models.tables import Payment
from tests.deployments.test_cli_review import setup_relationship, tandem

TODAY = today_local()


def test_terms_show_change_and_refuse_with_flag_names(tandem_env: str) -> None:
    key = setup_relationship()
    code, out = tandem("payment", "terms", key, "--json")
    data = json.loads(out)
    assert (
        code == 0
        and data["check"]["due_days"] == 60
        and data["rules"]["term"]["article"]["en"] == "Art. 9(2)"
    )
    code, out = tandem("payment", "terms", key, "--basis", "acceptance")
    assert code == 1 and "--acceptance-days: an acceptance basis needs" in out
    code, out = tandem("payment", "terms", key, "--agreed-rate", "4.355", "--acceptance-days", "0")
    assert code == 1 and "--agreed-rate: " in out and "--acceptance-days: " in out
    assert tandem("payment", "terms", key, "--buyer", "church")[0] == 2  # not a choice: a usage error
    code, out = tandem("payment", "terms", key, "--basis", "acceptance", "--acceptance-days", "15", "--json")
    data = json.loads(out)
    assert code == 0 and (data["terms"]["basis"], data["terms"]["acceptance_days"]) == ("acceptance", 15)
    assert data["rules"]["clock"]["article"] == {"en": "Art. 10", "zh-CN": "第10条"}
    code, out = tandem("payment", "terms", key, "--buyer", "public_body")
    assert code == 0 and "due after 60 days" in out
    code, out = tandem("payment", "law", "--json")
    laws = {law["id"]: law for law in json.loads(out)}
    assert laws["cn-sme-payments"]["buyers"]["public_body"] == {
        "default_days": 30,
        "cap_days": 60,
        "article": "Art. 9(1)",
    }


def test_add_with_clock_fields_list_the_clock_and_name_flags(tandem_env: str) -> None:
    key = setup_relationship()
    delivered = (TODAY - timedelta(days=70)).isoformat()
    base = ["payment", "add", "--relationship", key, "--delivered", delivered, "--invoiced", delivered]
    code, out = tandem(
        *base, "--invoice", "B-1", "--amount", "10000", "--currency", "CNY", "--disputed", "2500"
    )
    assert code == 0 and "10000.00 CNY, unpaid" in out, out
    code, out = tandem(
        *base,
        "--invoice",
        "B-2",
        "--amount",
        "1",
        "--currency",
        "CNY",
        "--method",
        "bill",
        "--e-invoice",
        "12",
    )
    assert code == 1 and "--method: a payment method needs the paid date" in out and "--e-invoice: " in out
    code, out = tandem("payment", "list", key, "--json")
    (row,) = json.loads(out)
    clock = row["clock"]
    assert (clock["state"], clock["days_late"], clock["due_minor"], clock["started_by"]) == (
        "overdue",
        10,
        750_000,
        "delivery",
    )
    assert clock["owed_minor"] == {"CNY": 750_000 * 5 * 10 // 10_000}
    code, out = tandem("payment", "list", key, "--as-of", "yesterday")
    assert code == 1 and "--as-of" in out


def test_statements_requests_and_the_declaration_from_the_command_line(tandem_env: str) -> None:
    key = setup_relationship()
    month = TODAY.replace(day=1) - timedelta(days=1)  # last month
    day = month.replace(day=3).isoformat()
    for n in (1, 2):
        code, out = tandem(
            "payment", "add", "--relationship", key, "--invoice", f"S-{n}", "--delivered", day,
            "--invoiced", day, "--amount", "100", "--currency", "CNY",
        )  # fmt: skip
        assert code == 0, out
    period = month.strftime("%Y-%m")
    code, out = tandem("statement", "issue", key, "--period", period, "--json")
    statement = json.loads(out)
    assert code == 0 and [line["invoice_id"] for line in statement["lines"]] == ["S-1", "S-2"]
    assert statement["effort_minutes"] == 7 and statement["status"] == "open"
    assert (
        statement["portal_url"].endswith(f"/statements/{statement['id']}")
        and "/portal/" in statement["portal_url"]
    )
    assert tandem("statement", "issue", key, "--period", period)[0] == 1  # one statement per period
    code, out = tandem("statement", "issue", key, "--period", "2026-13")
    assert code == 1 and "--period" in out
    code, out = tandem("statement", "list", key)
    assert code == 0 and "open" in out
    code, out = tandem("statement", "show", str(statement["id"]))
    assert code == 0 and "S-2" in out

    with Session(get_engine()) as session:
        from models.lifecycle.relationships import find_relationship

        rel = find_relationship(session, key)
        invoice = session.exec(select(Payment).where(Payment.invoice_id == "S-1")).one()
        request_about(session, rel, invoice.id, kind="confirmation", by="wang.jianguo@jinggong.example.cn")  # type: ignore[arg-type]
        session.commit()
    code, out = tandem("payment", "requests", "--open", "--json")
    (request,) = json.loads(out)
    assert (request["kind"], request["protected"], request["overdue"]) == ("confirmation", True, False)
    assert tandem("payment", "answer", str(request["id"]), "--answer", "receivable confirmed")[0] == 0
    code, out = tandem("payment", "answer", str(request["id"]), "--answer", "again")
    assert code == 1 and "already answered" in out
    assert json.loads(tandem("payment", "requests", "--open", "--json")[1]) == []

    code, out = tandem(
        "relationship", "declare", key, "--size-class", "micro", "--declared-by", "someone@else.example"
    )
    assert (
        code == 1
        and "--declared-by: someone@else.example is not a contact of this relationship's partner" in out
    )
    code, out = tandem(
        "relationship", "declare", key, "--size-class", "huge", "--declared-by", "x", "--on", "2999-01-01"
    )
    assert code == 1 and "--size-class" in out and "--declared-by" in out and "--on" in out
    by = ["--declared-by", "wang.jianguo@jinggong.example.cn"]
    assert (
        tandem("relationship", "declare", key, "--size-class", "micro", *by, "--note", "contract annex 2")[0]
        == 0
    )
    code, out = tandem("relationship", "declare", key, "--size-class", "small", *by)
    assert code == 1 and "frozen" in out
    shown = json.loads(tandem("relationship", "show", key, "--json")[1])["sme_declaration"]
    assert (shown["size_class"], shown["agrees_with_frozen_class"], shown["note"]) == (
        "micro",
        True,
        "contract annex 2",
    )


def test_the_disclosure_report_from_the_command_line(tandem_env: str, tmp_path: Path) -> None:
    key = setup_relationship()
    delivered = (TODAY - timedelta(days=100)).isoformat()
    code, out = tandem(
        "payment", "add", "--relationship", key, "--invoice", "=1+1", "--delivered", delivered,
        "--invoiced", delivered, "--amount", "1000", "--currency", "CNY",
    )  # fmt: skip
    assert code == 0, out
    year = str(TODAY.year)
    code, out = tandem("report", "sme-payments", "--year", year, "--json")
    cn = json.loads(out)["sections"][0]
    assert code == 0 and (cn["contracts_overdue"], cn["invoices_overdue"], cn["longest_days_late"]) == (
        1,
        1,
        40,
    )
    csv_file = tmp_path / "sme.csv"
    code, out = tandem("report", "sme-payments", "--year", year, "--format", "csv", "--out", str(csv_file))
    assert code == 0 and "1 contract(s)" in out
    text = csv_file.read_text(encoding="utf-8")
    assert "'=1+1" in text and ",=1+1" not in text
    code, out = tandem("report", "sme-payments", "--year", year, "--lang", "zh-CN")
    assert code == 0 and f"{year}年逾期尚未支付中小企业款项情况" in out
    code, out = tandem("report", "sme-payments", "--year", "1999", "--format", "pdf", "--lang", "fr")
    assert code == 1 and "--lang" in out and "--format" in out
    assert tandem("report", "sme-payments", "--year", "3000")[0] == 1
