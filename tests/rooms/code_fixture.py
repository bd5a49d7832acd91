"""The small repository the code domain's tests and benchmark work on: a client
module, its test, and two proposals (the async refactor, and one that hangs)."""

from __future__ import annotations

from pathlib import Path

from continuum.code import git

CLIENT = """import time


def fetch_all(urls):
    results = []
    for url in urls:
        time.sleep(0)
        results.append(url.upper())
    return results
"""
CLIENT_TEST = """from app.client import fetch_all


def test_fetch_all():
    assert fetch_all(["a", "b"]) == ["A", "B"]
"""
FIXTURES = Path(__file__).parent / "fixtures"
#: The refactor a human asks for: fetch_all (and its test) to async/await.
TO_ASYNC = (FIXTURES / "to-async.patch").read_text()
#: A change whose test never ends.
HANG = (FIXTURES / "hang.patch").read_text()


def fixture_repository(root: Path) -> Path:
    """A git repository at ``root`` with the client, its test and one commit."""
    (root / "app").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "client.py").write_text(CLIENT)
    (root / "tests" / "test_client.py").write_text(CLIENT_TEST)
    git.git(root, "init", "-q", "-b", "main")
    git.git(root, "add", ".")
    git.git(root, "-c", "user.name=ada", "-c", "user.email=a@a", "commit", "-qm", "client")
    return root


#: The fix of ``break_it``'s bug, as a persona would propose it.
FIX = """\
--- a/app/client.py
+++ b/app/client.py
@@ -5,5 +5,5 @@ def fetch_all(urls):
     results = []
     for url in urls:
         time.sleep(0)
-        results.append(url)
+        results.append(url.upper())
     return results
"""


def break_it(root: Path) -> None:
    """Commit a bug the fixture's test catches (a failing check on HEAD)."""
    (root / "app" / "client.py").write_text(CLIENT.replace("url.upper()", "url"))
    git.git(root, "-c", "user.name=ada", "-c", "user.email=a@a", "commit", "-qam", "a bug")
