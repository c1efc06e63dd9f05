"""The dashboard in a real Chromium (Debian's ``chromium``, driven by Playwright), issue 14.

Few and fast: each test signs in through the form and walks what a person would. A
failing test leaves a full-page screenshot in ``<pytest tmp>/screenshots``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from modelcycle.monitoring import parse_rules, run_monitoring
from modelcycle.registry import READY
from tests.models import Data
from tests.web.conftest import (
    PASSWORD,
    PSI_RULE,
    Site,
    expire_sessions,
    predict_shifted,
    running,
    serve_private_model,
)

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it with apt)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(
    browser: Any, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        folder = tmp_path_factory.getbasetemp() / "screenshots"
        folder.mkdir(exist_ok=True)
        shot = folder / f"{request.node.name}.png"
        opened.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failure: {shot}")
    context.close()


def sign_in(page: Any, site: Site, user: str, path: str = "/runs") -> None:
    """Sign in with the keyboard only: type, Tab, type, Enter."""
    page.goto(site.base + path)
    # The user field takes the focus by itself (autofocus); typing before it has it
    # would send the keys to the page, so wait for it (on a busy machine it comes late).
    expect(page.locator("#user")).to_be_focused()
    page.keyboard.type(user)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    refused = page.locator("p.error")
    assert refused.count() == 0, f"sign-in refused: {refused.inner_text()}"
    assert page.url == site.base + path


def test_each_role_sees_what_it_may(page: Any, site: Site) -> None:
    sign_in(page, site, "ada", "/models/cancer")
    assert page.title() == "Model cancer · modelcycle"
    assert page.get_by_role("link", name="Users & keys").is_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    sign_in(page, site, "max", "/models/cancer")
    assert page.get_by_role("link", name="Users & keys").count() == 0
    assert page.get_by_role("link", name="Roll back @champion").is_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    sign_in(page, site, "vic", "/models/cancer")
    assert page.get_by_role("link", name="Roll back @champion").count() == 0
    assert page.get_by_role("link", name="check gates").is_visible()
    page.goto(site.base + "/users")
    assert "may not manage" in page.locator("p.error").inner_text()


def test_sort_filter_and_compare_two_runs(page: Any, site: Site) -> None:
    sign_in(page, site, "vic", "/runs?experiment=sweep")
    with page.expect_navigation():
        page.get_by_role("link", name="metrics.score").click()
    first = page.locator("#runs tbody tr").first.locator("td").nth(1)
    assert first.inner_text() == "sweep-29"
    page.get_by_label("filter").fill("params.lr = '0.1' and metrics.score >= 0.2")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply").click()
    assert page.locator("#run-count").inner_text() == "3 run(s)"
    assert "filter=params.lr" in page.url  # a filtered table is a link to share
    page.get_by_label("compare sweep-27").check()
    page.get_by_label("compare sweep-24").check()
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Compare selected (up to 500)").click()
    assert page.locator("h2").first.inner_text() == "Compare 2 runs"
    assert page.locator("#compare tbody tr").count() == 2
    page.locator("#chart-history-0 .main-svg").first.wait_for()  # plotly drew the history


def test_promote_through_a_failing_gate_then_roll_back(page: Any, site: Site) -> None:
    sign_in(page, site, "max", "/models/cancer")
    with page.expect_navigation():
        page.locator("#versions").get_by_role("link", name="promote").click()
    assert "test_roc_auc" in page.locator("ul.reasons").inner_text()
    assert page.get_by_role("button", name="Confirm").count() == 0
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    sign_in(page, site, "ada", "/models/cancer/promote?version=2")
    page.get_by_label("Override the failed gates (recorded in the audit log)").check()
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(site.base + "/models/cancer")
    assert "@champion → version 2" in page.locator("#aliases").inner_text()
    with page.expect_navigation():
        page.get_by_role("link", name="Roll back @champion").click()
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(site.base + "/models/cancer")
    assert "@champion → version 1" in page.locator("#aliases").inner_text()
    assert "rollback" in page.locator("#history").inner_text()


def test_a_drift_alert_appears_after_shifted_traffic_and_is_acknowledged(
    page: Any, site: Site, cancer: Data
) -> None:
    name = serve_private_model(site.ws, cancer)
    sign_in(page, site, "max", f"/models/{name}/operation")
    assert page.locator("#alerts").count() == 0
    predict_shifted(site.ws, cancer, rows=100)  # through a real server, which logs them
    run_monitoring(site.ws.services, name, rules=parse_rules([PSI_RULE]))
    page.reload()
    alert = page.locator("#alerts tbody tr").first
    expect(alert).to_contain_text(PSI_RULE)
    expect(alert).to_contain_text("critical")
    page.locator("#chart-drift-history .main-svg").first.wait_for()  # drift over time drawn
    with page.expect_navigation():
        alert.get_by_role("link", name="acknowledge").click()
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(site.base + f"/models/{name}/operation")
    expect(page.locator("#alerts tbody tr").first).to_contain_text("by max")


def test_an_expired_session_signs_in_again_and_returns(page: Any, site: Site) -> None:
    sign_in(page, site, "vic", "/retraining")
    expire_sessions(site.ws)
    page.goto(site.base + "/models/cancer/operation")
    assert page.title() == "Sign in · modelcycle"
    expect(page.locator("#user")).to_be_focused()
    page.keyboard.type("vic")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(site.base + "/models/cancer/operation")
    assert page.title() == "cancer in operation · modelcycle"


def test_a_form_on_another_site_cannot_act(page: Any, site: Site) -> None:
    attack = f"""<form id="f" method="post" action="{site.base}/models/cancer/archive">
      <input name="version" value="2"><input name="csrf" value="guess"></form>
      <script>document.getElementById('f').submit()</script>"""
    evil = Starlette(routes=[Route("/", lambda request: HTMLResponse(attack))])
    sign_in(page, site, "ada", "/models/cancer")
    with running(evil) as evil_base:
        page.goto(evil_base + "/")
        page.wait_for_load_state("load")
        assert "may not act on this server" in page.locator("p.error").inner_text()
    assert site.ws.registry.get_version("cancer", 2).status == READY
