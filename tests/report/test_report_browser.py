"""The docs site and the launch report in a real browser: what people see is what the marts hold."""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.print_page_options import PrintOptions
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from ingestion import settings
from ingestion.local_server import LocalServer
from ingestion.report import build
from ingestion.report import marts as report_marts
from tests.dbt.launch import BuiltLaunch, built_launch
from tests.helpers import run_cli
from tests.report.browser import SCREENSHOTS, chromium, console_errors, screenshot

MARTS = ("dim_users", "fct_launch_daily", "fct_launch_hourly", "fct_status_history")
HEADLINE = (
    "legacy_conversions",
    "legacy_conversion_rate",
    "submissions_created",
    "vault_items_requested",
    "vault_items_stored",
    "collection_active_users",
)
HOURLY_CHARTS = (
    "new_signups",
    "legacy_conversions",
    "submissions_created",
    "vault_items_requested",
    "vault_items_stored",
    "collection_active_users",
)
RATE = "legacy_conversion_rate"
# dbt-docs' static page (not ours) writes Angular templates into <img src> and a webpack
# require() into the favicon link, and the browser tries to load them as they stand. These
# two known defects of dbt's page are the only console errors it may show.
DBT_DOCS_KNOWN_ERRORS = ("%7B%7B%20getIcon(item.type", "$%7Brequire('./assets/favicons/")
WAIT_SECONDS = 20
STALE_TABLE = ("vault", "vault_items")


@dataclass(frozen=True)
class Marts:
    """The marts' values, keyed as the report's markers name them."""

    daily: dict[str, dict[str, object]]
    hourly: dict[str, dict[str, object]]
    time_in_status: dict[tuple[str, str], dict[str, object]]
    current: dict[tuple[str, str], int]
    loads: dict[tuple[str, str], str]


@pytest.fixture(scope="module")
def launch(
    server: LocalServer, admin_url: sa.URL, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BuiltLaunch]:
    folder = tmp_path_factory.mktemp("report")
    with built_launch(server, admin_url, folder, scale=300, steps=[12, 24]) as built:
        assert built.dbt("docs", "generate", "--static") == 0
        yield built


@pytest.fixture(scope="module")
def report(launch: BuiltLaunch) -> Path:
    """The report as a user makes it, through the CLI."""
    output = launch.folder / "launch_report.html"
    result = run_cli(
        "report",
        "--output",
        str(output),
        "--manifest",
        str(launch.target / "manifest.json"),
        cwd=launch.folder,
        WAREHOUSE_DB=os.environ["WAREHOUSE_DB"],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(str(output))
    return output


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def marts(launch: BuiltLaunch) -> Marts:
    with launch.warehouse.connect() as connection:

        def rows(query: str) -> list[dict[str, object]]:
            return [dict(row) for row in connection.exec_driver_sql(query).mappings()]

        daily = rows("select * from marts.fct_launch_daily")
        hourly = rows("select * from marts.fct_launch_hourly")
        times = rows("select * from marts.fct_time_in_status")
        current = rows(
            "select entity_type, status, count(*) as entities from marts.fct_status_history"
            " where is_current group by 1, 2"
        )
        loads = rows(
            "select distinct on (source, table_name) source, table_name, load_id"
            " from ingestion.table_syncs where status = 'ok'"
            " order by source, table_name, finished_at desc"
        )
    return Marts(
        daily={row["metric_date"].isoformat(): row for row in daily},
        hourly={f"{row['metric_hour'].astimezone(UTC):%Y-%m-%dT%H:%M}Z": row for row in hourly},
        time_in_status={(row["entity_type"], row["status"]): row for row in times},
        current={(row["entity_type"], row["status"]): row["entities"] for row in current},
        loads={(row["source"], row["table_name"]): row["load_id"] for row in loads},
    )


def _open(driver: webdriver.Chrome, path: Path, fragment: str = "") -> None:
    console_errors(driver)  # forget what earlier pages logged
    driver.get(path.as_uri() + fragment)
    WebDriverWait(driver, WAIT_SECONDS).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def _displayed(driver: webdriver.Chrome, selector: str) -> list[WebElement]:
    return [e for e in driver.find_elements(By.CSS_SELECTOR, selector) if e.is_displayed()]


def test_docs_site_lists_the_marts_and_opens_a_model_page(
    launch: BuiltLaunch, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    docs = launch.target / "static_index.html"
    _open(browser, docs, "#!/model/model.launch_analytics.fct_launch_daily")
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda d: "One row per UTC day" in d.find_element(By.TAG_NAME, "body").text
    )
    page = browser.find_element(By.TAG_NAME, "body").text
    listed = {
        e.get_attribute("data-nav-unique-id")
        for e in _displayed(browser, "a[data-nav-unique-id^='model.launch_analytics.']")
    }
    screenshot(browser, tmp_path, "docs_fct_launch_daily", full_page=False)

    assert {f"model.launch_analytics.{mart}" for mart in MARTS} <= listed
    assert "legacy_conversion_rate" in page
    assert "Cumulative legacy conversions divided by all legacy users" in page

    _displayed(browser, "a[data-nav-unique-id='model.launch_analytics.dim_users']")[0].click()
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda d: "One row per user" in d.find_element(By.TAG_NAME, "body").text
    )
    screenshot(browser, tmp_path, "docs_dim_users", full_page=False)

    assert browser.current_url.endswith("#!/model/model.launch_analytics.dim_users")
    assert "email_hash" in browser.find_element(By.TAG_NAME, "body").text
    unexpected = [
        entry
        for entry in console_errors(browser)
        if not any(known in str(entry["message"]) for known in DBT_DOCS_KNOWN_ERRORS)
    ]
    assert unexpected == []


def test_report_shows_its_charts_with_labelled_axes(
    report: Path, browser: webdriver.Chrome, marts: Marts, tmp_path: Path
) -> None:
    _open(browser, report)
    days, hours = len(marts.daily), len(marts.hourly)
    screenshot(browser, tmp_path, "launch_report_laptop", full_page=False)
    screenshot(browser, tmp_path, "launch_report", full_page=True)
    charts = _displayed(browser, "svg.chart")

    assert len(charts) >= 15
    for chart in charts:
        assert chart.size["width"] > 250 and chart.size["height"] > 80, chart.get_attribute(
            "aria-label"
        )
        titles = [t.text for t in chart.find_elements(By.CSS_SELECTOR, ".axis-title")]
        assert titles and all(titles), chart.get_attribute("aria-label")
    for metric in ("legacy_conversions", "submissions_created", "cards_submitted"):
        assert len(_displayed(browser, f"rect[data-metric='{metric}'][data-date]")) == days
    for metric in ("cumulative_legacy_conversions", RATE):
        assert len(_displayed(browser, f"circle[data-metric='{metric}'][data-date]")) == days
    for metric in HOURLY_CHARTS:
        assert len(_displayed(browser, f"rect[data-metric='{metric}'][data-hour]")) == hours
    assert len(_displayed(browser, "rect[data-metric='median_hours']")) == len(marts.time_in_status)
    assert console_errors(browser) == []


def test_report_prints_on_landscape_pages(
    report: Path, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    _open(browser, report)
    options = PrintOptions()
    options.orientation = "landscape"
    options.background = True
    pdf = base64.b64decode(browser.print_page(options))
    (tmp_path / "launch_report.pdf").write_bytes(pdf)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "launch_report.pdf").write_bytes(pdf)

    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 3


def _number(text: str) -> Decimal:
    cleaned = text.replace(",", "").replace("\u2212", "-").replace("+", "")
    for unit in ("%", " pp", " h"):
        cleaned = cleaned.removesuffix(unit)
    return Decimal(cleaned.strip())


def _agrees(shown: Decimal, expected: Decimal) -> bool:
    """Whether the shown number is the expected one rounded to the digits shown."""
    step = Decimal(1).scaleb(shown.as_tuple().exponent)
    return Decimal(expected).quantize(step, rounding=ROUND_HALF_UP) == shown


def _expected(marker: dict[str, str], marts: Marts) -> Decimal:
    metric, measure = marker["metric"], marker.get("measure", "value")
    if "entityType" in marker:
        key = (marker["entityType"], marker["status"])
        if metric == "current_entities":
            return Decimal(marts.current[key])
        return Decimal(marts.time_in_status[key][metric])
    row = marts.hourly[marker["hour"]] if "hour" in marker else marts.daily[marker["date"]]
    value = Decimal(row[metric])
    if measure == "value":
        return value * 100 if metric == RATE else value
    before = Decimal(marts.daily[marker["versus"]][metric])
    if measure == "change":
        return value - before
    if measure == "change_points":
        return (value - before) * 100
    assert measure == "change_percent", marker
    return (value - before) * 100 / before


def _shown_numbers(driver: webdriver.Chrome) -> list[tuple[dict[str, str], str]]:
    """Every marked number with visible text, as rendered, with its markers."""
    driver.find_element(By.CSS_SELECTOR, "#hourly-numbers summary").click()
    elements = driver.execute_script(
        "return Array.from(document.querySelectorAll('[data-metric]'))"
        ".filter(e => !['rect', 'circle'].includes(e.tagName))"
        ".map(e => [e, Object.assign({}, e.dataset)])"
    )
    found = []
    for element, marker in elements:
        assert element.is_displayed(), marker
        found.append((marker, element.text))
    return found


def test_numbers_shown_equal_the_marts(
    report: Path, browser: webdriver.Chrome, marts: Marts, tmp_path: Path
) -> None:
    _open(browser, report)
    shown = _shown_numbers(browser)
    screenshot(browser, tmp_path, "launch_report_numbers", full_page=True)
    wrong = [
        (marker, text, _expected(marker, marts))
        for marker, text in shown
        if not _agrees(_number(text), _expected(marker, marts))
    ]
    covered = {(m["metric"], m.get("date") or m.get("hour")) for m, _ in shown}
    latest = max(marts.daily)

    assert wrong == []
    for day, row in marts.daily.items():
        assert {(metric, day) for metric in row if metric != "metric_date"} <= covered
    for hour, row in marts.hourly.items():
        assert {(metric, hour) for metric in row if metric != "metric_hour"} <= covered
    cards = {
        card.get_attribute("data-card"): card.find_element(By.CSS_SELECTOR, ".value")
        for card in _displayed(browser, "[data-card]")
    }
    assert set(cards) == set(HEADLINE)
    assert {card.get_attribute("data-date") for card in cards.values()} == {latest}
    assert len(shown) > 9 * (len(marts.daily) + len(marts.hourly))


def test_report_names_the_loads_it_reflects(
    report: Path, browser: webdriver.Chrome, marts: Marts
) -> None:
    _open(browser, report)
    shown = {
        (row.get_attribute("data-source"), row.get_attribute("data-table")): row.find_element(
            By.CSS_SELECTOR, "[data-field='load_id']"
        ).text
        for row in _displayed(browser, "#syncs tr[data-source]")
    }

    assert shown == marts.loads


def test_no_staleness_banner_while_every_table_is_fresh(
    report: Path, browser: webdriver.Chrome
) -> None:
    _open(browser, report)
    freshness = {e.text for e in _displayed(browser, "#syncs [data-field='freshness']")}

    assert browser.find_elements(By.ID, "staleness") == []
    assert freshness == {"fresh"}


@contextmanager
def _synced_earlier(launch: BuiltLaunch, hours: float) -> Iterator[None]:
    """Pretend every sync of STALE_TABLE finished `hours` earlier than it did."""
    update = (
        "update ingestion.table_syncs set finished_at = finished_at + %(shift)s * interval '1 hour'"
        " where source = %(source)s and table_name = %(table)s"
    )
    source, table = STALE_TABLE
    with launch.warehouse.begin() as connection:
        connection.exec_driver_sql(update, {"shift": -hours, "source": source, "table": table})
    try:
        yield
    finally:
        with launch.warehouse.begin() as connection:
            connection.exec_driver_sql(update, {"shift": hours, "source": source, "table": table})


def _banner(browser: webdriver.Chrome, report: Path) -> tuple[str | None, list[str]]:
    _open(browser, report)
    banners = _displayed(browser, "#staleness")
    if not banners:
        return None, []
    listed = [
        f"{item.get_attribute('data-source')}.{item.get_attribute('data-table')}"
        for item in banners[0].find_elements(By.CSS_SELECTOR, "li")
    ]
    return banners[0].get_attribute("data-staleness"), listed


@pytest.mark.parametrize(("hours", "state"), [(3, None), (7, "warn"), (30, "error")])
def test_staleness_banner_follows_the_dbt_thresholds(
    launch: BuiltLaunch,
    browser: webdriver.Chrome,
    tmp_path: Path,
    hours: float,
    state: str | None,
) -> None:
    with _synced_earlier(launch, hours):
        written = build.write(tmp_path / "report.html", launch.target / "manifest.json")
    shown, listed = _banner(browser, written.path)
    if state:
        screenshot(browser, tmp_path, f"launch_report_stale_{state}", full_page=False)

    assert shown == state
    assert listed == (["vault.vault_items"] if state else [])
    assert written.stale_tables == tuple(listed)
    assert console_errors(browser) == []


def test_staleness_thresholds_are_read_from_the_dbt_manifest(
    launch: BuiltLaunch, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    manifest = json.loads((launch.target / "manifest.json").read_text())
    source = manifest["sources"]["source.launch_analytics.vault.vault_items"]
    source["config"]["freshness"]["warn_after"] = {"count": 2, "period": "hour"}
    stricter = tmp_path / "manifest.json"
    stricter.write_text(json.dumps(manifest))

    with _synced_earlier(launch, 3):
        written = build.write(tmp_path / "report.html", stricter)
    shown, listed = _banner(browser, written.path)

    assert (shown, listed) == ("warn", ["vault.vault_items"])
    assert "warn after 2 h" in browser.find_element(By.ID, "syncs").text


def test_report_reads_one_read_only_snapshot(launch: BuiltLaunch) -> None:
    with report_marts.snapshot(settings.warehouse()) as connection:
        isolation = connection.exec_driver_sql("show transaction_isolation").scalar()
        read_only = connection.exec_driver_sql("show transaction_read_only").scalar()
        zone = connection.exec_driver_sql("show timezone").scalar()

    assert (isolation, read_only, zone) == ("repeatable read", "on", "UTC")


def test_report_without_built_marts_says_what_to_run(launch: BuiltLaunch, tmp_path: Path) -> None:
    result = run_cli(
        "report",
        "--output",
        str(tmp_path / "report.html"),
        "--manifest",
        str(tmp_path / "missing.json"),
        cwd=launch.folder,
        WAREHOUSE_DB=os.environ["WAREHOUSE_DB"],
    )

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"ingestion: no dbt manifest at {tmp_path / 'missing.json'}:"
        " run `make build` (or `ingestion dbt parse`) first"
    ]
    assert not (tmp_path / "report.html").exists()
