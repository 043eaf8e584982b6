"""Playwright (PyPI) driving Debian's chromium via executable_path, no `playwright install`."""
import tempfile
import base64, functools, http.server, struct, sys, threading, zlib
from pathlib import Path
from playwright.sync_api import sync_playwright


def png(w, h):  # a tiny valid RGB PNG, no Pillow needed
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * w for _ in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


site = Path(tempfile.gettempdir()) / "proto10" / "site"
(site / "fig.png").write_bytes(png(7, 5))
uri = "data:image/png;base64," + base64.b64encode(png(11, 3)).decode()
(site / "index.html").write_text(f'<h1>report</h1><img id="file" src="fig.png"><img id="data" src="{uri}">'
                                 f'<img id="broken" src="figures/missing.png"><table><tr><td>a|b</td></tr></table>')
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site)))
threading.Thread(target=server.serve_forever, daemon=True).start()
exe = sys.argv[1] if len(sys.argv) > 1 else "/usr/bin/chromium"
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=exe, headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-default-apps", "--no-first-run", "--disable-extensions"])
    page = browser.new_page()
    page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html", wait_until="load")
    widths = page.eval_on_selector_all("img", "els => els.map(e => [e.id, e.complete, e.naturalWidth])")
    print(f"{exe}: browser {browser.version}; h1={page.inner_text('h1')!r}; td={page.inner_text('td')!r}; imgs={widths}")
    browser.close()
server.shutdown()
