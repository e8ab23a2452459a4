"""notebooks/quickstart.ipynb runs top to bottom (so it never rots)."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "quickstart.ipynb"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quickstart_notebook_executes(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("RAY_OCR_QUICKSTART_OUT", str(tmp_path))
    monkeypatch.setenv("RAY_OCR_QUICKSTART_VIDEOS", "2")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=480, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert '"verdict": "reject"' in text and '"verdict": "pass"' in text  # sample 0 banned, 1 clean
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the evidence screenshot and the timing chart
    assert list((tmp_path / "results" / "evidence").rglob("*.jpg"))
