"""The notebooks as a user meets them: JupyterLab on 127.0.0.1, driven by Debian's chromium through Playwright.

Each notebook is opened, run with "Run All Cells", checked for widgets that failed to render and for errors;
then one control per explorer is changed and its output must change. Screenshots go to ``reports/ui/``
(git-ignored) for a person to look at. Chromium comes from ``make chromium`` (apt-get), never from
``playwright install``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook
from refbench.settings import PROJECT_ROOT, Settings
from refbench.workbench.lab import lab_command, lab_url, new_token

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = PROJECT_ROOT / "reports" / "ui"
SAMPLES = PROJECT_ROOT / "data" / "samples"
BROKEN_WIDGET = ("Error displaying widget", "Loading widget", "Model not found", "Failed to load model class")
RUN_TIMEOUT_MS = 120_000
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook on screen


@dataclass(frozen=True)
class Change:
    """How to move one control of a notebook's explorer, and what the change must show."""

    control: str  # the control's description label
    action: str  # "select" an option, or "type" into the slider's readout
    value: str
    expect: str  # text the explorer's output shows afterwards (and not before)


# One change per explorer; notebook 04 is a static report without controls.
CHANGES = {
    "01_detection_explorer": Change("image", "select", "bus.jpg", "bus"),  # a class only bus.jpg has
    "02_face_thresholds": Change("threshold", "type", "0.45", "clusters at 0.45"),
    "03_reference_selection": Change("shot", "select", "establishing", "establishing"),
}

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def notebook_copies(root: Path, workspace: Settings) -> list[Path]:
    """The project's notebooks with parameters that point at the test workspace (as papermill injects them)."""
    parameters = {
        "db_path": str(workspace.database),
        "model_dir": str(workspace.models),
        "images_dir": str(SAMPLES / "photos"),
        "identities_file": str(SAMPLES / "identities.csv"),
        "distractors_dir": str(SAMPLES / "distractors"),
    }
    copies = []
    for source in sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb")):
        notebook = load_notebook_node(str(source))  # papermill's reader: the cell metadata it expects
        declared = "\n".join(c.source for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
        wanted = {k: v for k, v in parameters.items() if f"{k} =" in declared}
        copies.append(root / source.name)
        nbformat.write(parameterize_notebook(notebook, wanted), copies[-1])
    return copies


@pytest.fixture(scope="module")
def lab(demo_workspace: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str, list[Path]]]:
    """JupyterLab serving copies of the notebooks; yields (port, token, notebooks)."""
    root = tmp_path_factory.mktemp("lab")
    notebooks = notebook_copies(root, demo_workspace)
    port, token = free_port(), new_token()
    log = (root / "jupyter.log").open("w")
    command = lab_command(root_dir=root, port=port, token=token, open_path="", settings_dir=lab_settings(root))
    server = subprocess.Popen(command, stdout=log, stderr=log)
    try:
        wait_until_up(port, token, server)
        yield port, token, notebooks
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def lab_settings(root: Path) -> Path:
    """JupyterLab settings of the test: every cell in the page (no windowing), no news prompt."""
    folder = root / ".settings"
    settings = {
        "notebook-extension/tracker": {"windowingMode": "none"},
        "apputils-extension/notification": {"fetchNews": "false"},
    }
    for name, values in settings.items():
        path = folder / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return folder


def wait_until_up(port: int, token: str, server: subprocess.Popen, *, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"jupyter lab exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer within {timeout_s} s")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.is_file():
        if os.environ.get("CI"):  # make test installs it first: its absence in CI is a broken setup, not a skip
            pytest.fail(f"no {CHROMIUM}: `make chromium` (apt-get, as root) should have installed it")
        pytest.skip("needs Debian's chromium: `make chromium` (as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


def open_notebook(page: object, *, port: int, token: str, notebook: Path) -> None:
    """Open a notebook and wait until its kernel is started and idle (asked of the server, not read off the page)."""
    page.goto(lab_url(port=port, token=token, path=notebook.name) + "&reset")  # reset: no tabs of earlier tests
    page.locator(f"{PANEL} .jp-Cell").first.wait_for(timeout=60_000)
    deadline = time.monotonic() + 90
    while not kernel_idle(port, token, notebook.name):
        if time.monotonic() > deadline:
            pytest.fail(f"no idle kernel for {notebook.name} after 90 s")
        time.sleep(0.5)


def kernel_idle(port: int, token: str, name: str) -> bool:
    """Whether the server holds a session for notebook ``name`` whose kernel is idle."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/sessions?token={token}", timeout=5) as answer:
        sessions = json.load(answer)
    return any(s["path"].endswith(name) and s["kernel"]["execution_state"] == "idle" for s in sessions)


def run_all_cells(page: object) -> None:
    """Run > Run All Cells, then wait until every code cell has an execution count and the kernel is idle."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('PANEL .jp-CodeCell .jp-InputPrompt')];
            const idle = document.querySelector('PANEL .jp-Notebook-ExecutionIndicator[data-status="idle"]');
            return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent)) && idle !== null;
        }""".replace("PANEL", PANEL),
        timeout=RUN_TIMEOUT_MS,
    )


def explorer_output(page: object) -> str:
    """The HTML of the last interactive output (what an explorer draws), '' when there is none."""
    return page.evaluate(
        "() => { const outs = document.querySelectorAll('.jupyter-widgets .widget-output');"
        " return outs.length ? outs[outs.length - 1].innerHTML : ''; }"
    )


def change(page: object, change: Change) -> None:
    """Move one control the way a user does: pick an option, or type into a slider's readout and press Enter."""
    box = page.locator(
        f"{PANEL} .jupyter-widgets.widget-inline-hbox", has=page.locator(f"label:text-is('{change.control}')")
    )
    if change.action == "select":
        box.locator("select").select_option(label=change.value)
    else:
        readout = box.locator(".widget-readout")
        readout.click()
        page.keyboard.press("Control+A")
        page.keyboard.type(change.value)
        page.keyboard.press("Enter")


def problems(page: object) -> list[str]:
    """Widgets that failed to render and error outputs, as text."""
    text = page.locator(f"{PANEL} .jp-Notebook").inner_text()
    found = [marker for marker in BROKEN_WIDGET if marker in text]
    errors = page.locator(f"{PANEL} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    return found + [e for e in errors.all_inner_texts() if "Error" in e or "Traceback" in e]


@pytest.mark.parametrize("name", [*CHANGES, "04_manifest_report"])
def test_notebook_renders_and_responds_in_jupyterlab(lab, browser, name: str) -> None:
    port, token, notebooks = lab
    (notebook,) = [n for n in notebooks if n.stem == name]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1500, "height": 1900})
    try:
        open_notebook(page, port=port, token=token, notebook=notebook)
        run_all_cells(page)
        assert not problems(page), problems(page)
        if name not in CHANGES:
            assert page.locator(f"{PANEL} .jp-OutputArea-output img").count() >= 5  # contact sheet, galleries, charts
            page.screenshot(path=SCREENSHOTS / f"{name}.png")
            return
        page.locator(".jupyter-widgets .widget-output").last.wait_for(timeout=30_000)
        page.wait_for_function("() => document.querySelectorAll('.jupyter-widgets .widget-output img').length > 0")
        assert page.locator(".jupyter-widgets").count() >= 3
        explorer = page.locator(".jupyter-widgets.widget-vbox").last
        explorer.scroll_into_view_if_needed()
        page.screenshot(path=SCREENSHOTS / f"{name}.png")
        before = explorer_output(page)
        change(page, CHANGES[name])
        page.wait_for_function(
            "([before, expect]) => { const outs = document.querySelectorAll('.jupyter-widgets .widget-output');"
            " const out = outs[outs.length - 1]; return out.innerHTML !== before && out.innerText.includes(expect); }",
            arg=[before, CHANGES[name].expect],
            timeout=60_000,
        )
        assert not problems(page), problems(page)
        page.wait_for_timeout(500)  # let images of the new output decode before the screenshot
        explorer.scroll_into_view_if_needed()
        page.screenshot(path=SCREENSHOTS / f"{name}-changed.png")
    except Exception:
        page.screenshot(path=SCREENSHOTS / f"{name}-failed.png")  # what the browser showed, for a person to look at
        raise
    finally:
        page.close()
        stop_kernel(port, token, notebook.name)


def stop_kernel(port: int, token: str, name: str) -> None:
    """Shut the notebook's session down: four idle kernels would crowd two cores."""
    base = f"http://127.0.0.1:{port}/api/sessions"
    with urllib.request.urlopen(f"{base}?token={token}", timeout=5) as answer:
        sessions = [s["id"] for s in json.load(answer) if s["path"].endswith(name)]
    for session in sessions:
        urllib.request.urlopen(urllib.request.Request(f"{base}/{session}?token={token}", method="DELETE"), timeout=30)


def test_lab_listens_on_loopback_with_a_token_and_asks_nothing_of_the_internet(tmp_path: Path) -> None:
    command = lab_command(root_dir=tmp_path, port=8899, token="t0k", settings_dir=tmp_path / "s")
    assert {"--ip=127.0.0.1", "--port=8899", "--no-browser", "--IdentityProvider.token=t0k"} <= set(command)
    assert {"--LabApp.news_url=None", "--LabApp.extension_manager=readonly"} <= set(command)
    assert lab_url(port=8899, token="t0k", path="01.ipynb") == "http://127.0.0.1:8899/lab/tree/01.ipynb?token=t0k"


def test_screenshots_folder_is_ignored_by_git() -> None:
    """Screenshots are for people to look at, not for the repository."""
    if shutil.which("git") is None or not (PROJECT_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(
        ["git", "check-ignore", "-q", str(SCREENSHOTS / "x.png")], cwd=PROJECT_ROOT, check=False, capture_output=True
    )
    assert result.returncode == 0
