"""Tests for ``morph_assets.lib.plot``'s canvas: no pyplot, a new figure when no axes are given, PNG bytes."""

import subprocess
import sys

from matplotlib.figure import Figure

from morph_assets.lib.plot import plate_heatmap, to_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_importing_the_package_leaves_pyplot_and_the_backend_alone():
    # A notebook's inline backend must survive `import morph_assets.lib...`; run in a fresh
    # interpreter because this test session may have imported pyplot through other tests.
    # The raw rcParams entry is compared: matplotlib.get_backend() would itself resolve the
    # backend through pyplot.
    code = (
        "import sys, matplotlib; raw = lambda: dict.__getitem__(matplotlib.rcParams, 'backend'); before = raw(); "
        "import morph_assets.lib.plot, morph_assets.lib.models, morph_assets.lib.retrieval, morph_assets.lib.report; "
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'; "
        "assert raw() == before, 'backend switched'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_axes_a_new_figure_is_made_and_rendered_to_png():
    axes = plate_heatmap({"A01": 1.0}, title="t", colorbar_label="c")
    assert isinstance(axes.figure, Figure)
    png = to_png(axes.figure)
    assert png.startswith(PNG_SIGNATURE) and len(png) > 1000
