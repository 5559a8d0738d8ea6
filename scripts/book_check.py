"""Opens every chapter of the built books in headless Chromium, served from localhost, and fails
when an include was left unexpanded, or when anything a page asks for (an image, a style sheet,
a script, a font) does not load; takes a screenshot of the autograd chapter in each language.
Run by `scripts/book.sh --check`; usage: book_check.py BUILD_DIR."""
import html.parser
import http.server
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--window-size=1280,2400", "--virtual-time-budget=4000",
]
SCREENSHOT = "autograd.html"


class Images(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs).get("src", ""))


def main():
    build = pathlib.Path(sys.argv[1]).resolve()
    faults = []
    chapters = {}
    for language in ("zh", "en"):
        summary = (build.parent / language / "src" / "SUMMARY.md").read_text()
        names = [line.split("](")[1].split(")")[0] for line in summary.splitlines() if "](" in line]
        chapters[language] = [n.replace(".md", ".html").replace("README.html", "index.html") for n in names]
        for page in chapters[language]:
            path = build / language / page
            if not path.exists():
                faults.append(f"{language}/{page}: not built")
                continue
            text = path.read_text()
            if "{{#include" in text:
                faults.append(f"{language}/{page}: an include was not expanded")
            parser = Images()
            parser.feed(text)
            for src in parser.sources:
                image = (path.parent / src).resolve()
                if not src or not image.is_file() or not image.read_bytes().startswith(b"\x89PNG"):
                    faults.append(f"{language}/{page}: image {src!r} is missing or not a PNG")

    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(build), **kwargs)

        def log_request(self, code="-", size="-"):
            requests.append((self.path, int(code) if str(code).isdigit() else 0))

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    shots = build / "screenshots"
    shots.mkdir(exist_ok=True)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("book: no chromium (scripts/book.sh --check installs Debian's)")
    with tempfile.TemporaryDirectory() as profile:
        for language, pages in chapters.items():
            for page in pages:
                before = len(requests)
                args = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
                if page == SCREENSHOT:
                    args.append(f"--screenshot={shots / f'{language}-{page[:-5]}.png'}")
                else:
                    args.append("--dump-dom")
                run = subprocess.run(args + [f"{base}/{language}/{page}"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, timeout=120)
                if run.returncode != 0:
                    faults.append(f"{language}/{page}: chromium ended with status {run.returncode}: "
                                  f"{run.stderr.decode(errors='replace')[-300:]}")
                asked = requests[before:]
                if not any(path.endswith(page) and code in (200, 304) for path, code in asked):
                    faults.append(f"{language}/{page}: the page itself was not served")
                for path, code in asked:
                    # 304: served before, from the browser's cache (one profile for every page).
                    if code not in (200, 304) and not path.startswith("/favicon.ico"):
                        faults.append(f"{language}/{page}: {path} answered {code}")
    server.shutdown()
    for language in chapters:
        shot = shots / f"{language}-{SCREENSHOT[:-5]}.png"
        if not shot.is_file() or shot.stat().st_size < 10_000:
            faults.append(f"no screenshot {shot.name}")
    if faults:
        sys.exit("book: " + "\nbook: ".join(faults))
    print(f"book: {sum(map(len, chapters.values()))} pages opened in Chromium, every request answered, "
          f"screenshots in {shots.relative_to(build.parent.parent)}")


if __name__ == "__main__":
    main()
