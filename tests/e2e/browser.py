"""browser.py — what the browser tests share (test_gw_console.py and
test_gw_ws_browser.py): finding Node.js, playwright-core and Debian's
Chromium, running a driver script of tests/sdk (node DRIVER PROFILE CHROMIUM,
JSON lines both ways), and ending it and every process it started.

Driver is the common part: start() checks what is needed (failing with the
fix, never skipping), starts the driver, reads its stdout lines on a thread
(take() keeps each JSON line; the subclasses say where), waits for
{"event": "ready"} and notes Chromium's processes (tree, refreshed with
note_tree() after a page opens); wait_until() waits on the reader's
notifications; close() quits the driver, then kills what is left of the
noted processes (our own, by PID and start time) and answers their PIDs.

Needs Node.js, playwright-core in tests/sdk/node_modules and Debian's
chromium (SMSGW_CHROMIUM overrides /usr/bin/chromium)."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from gwtest import wait_for

SOURCE_DIR = os.environ.get("SMSGW_SOURCE_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
SDK_DIR = os.path.join(SOURCE_DIR, "tests", "sdk")
BUILD_DIR = os.environ.get("SMSGW_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
ARTEFACTS = os.path.join(BUILD_DIR, "artefacts")
CHROMIUM = os.environ.get("SMSGW_CHROMIUM") or "/usr/bin/chromium"
INSTALL = ("run `sh etc/bootstrap.sh && sh tests/run.sh` (the first installs Debian's chromium, "
           "nodejs and npm, the second runs `npm ci --prefix tests/sdk --no-audit --no-fund`, "
           "which installs playwright-core)")


def proc_start_time(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def descendants(root):
    """(pid, start time) of every live descendant of root."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            st = proc_start_time(c)
            if st is not None:
                out.append((c, st))
                todo.append(c)
    return out


class Driver:
    """node tests/sdk/<script> and the Chromium it drives; events is every
    JSON line take() kept; tree the (pid, start time) of its processes."""

    def __init__(self, script, prefix, profile, stderr_tail=4000):
        self.driver = os.path.join(SDK_DIR, script)
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.profile = os.path.join(self.dir, profile)
        self.stderr_path = os.path.join(self.dir, "driver.stderr")
        self.stderr_tail = stderr_tail
        self.events, self.eof = [], False
        self.cond = threading.Condition()
        self.proc, self.tree = None, []

    def start(self, timeout, detail=lambda: ""):
        node = shutil.which("node")
        assert node, "node is not installed: " + INSTALL
        assert os.path.exists(os.path.join(SDK_DIR, "node_modules", "playwright-core",
                                           "package.json")), \
            "tests/sdk/node_modules has no playwright-core: " + INSTALL
        assert os.access(CHROMIUM, os.X_OK), "%s is missing (Debian's chromium): %s" % (
            CHROMIUM, INSTALL)
        with open(self.stderr_path, "w") as err:
            self.proc = subprocess.Popen([node, self.driver, self.profile, CHROMIUM],
                                         cwd=SDK_DIR, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=err, text=True,
                                         bufsize=1)
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_until(lambda: any(e.get("event") == "ready" for e in self.events), timeout,
                        "the browser to start", detail)
        self.note_tree()
        return self

    def note_tree(self):
        self.tree = descendants(self.proc.pid)

    def take(self, e):
        """Keep one line the driver printed (called holding cond)."""
        self.events.append(e)

    def _read(self):
        for line in self.proc.stdout:
            try:
                e = json.loads(line)
            except ValueError:
                e = {"event": "raw", "text": line.rstrip("\n")}
            with self.cond:
                self.take(e)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def stderr(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()[-self.stderr_tail:]
        except OSError:
            return ""

    def send(self, msg):
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()

    def wait_until(self, pred, timeout, what, detail=lambda: ""):
        """pred()'s value once it is truthy (waiting on the reader's
        notifications); fails when the driver exits or after timeout
        seconds, with detail() and the driver's stderr."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                got = pred()
                if got:
                    return got
                left = end - time.monotonic()
                if self.eof or left <= 0:
                    raise AssertionError("%s waiting for %s%s\ndriver stderr:\n%s" % (
                        "browser driver exited" if self.eof else
                        "timed out after %ds" % timeout, what, detail(), self.stderr()))
                self.cond.wait(min(left, 5))

    def quit_message(self):
        return {"cmd": "quit"}

    def close(self):
        """Quit the browser; end whatever is left of it (our own processes,
        by PID); return the PIDs that had to be killed."""
        if self.proc and self.proc.poll() is None:
            try:
                self.send(self.quit_message())
                self.proc.wait(60)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(20)

        def left():  # still there: the same process (same start time)
            return [(pid, st) for pid, st in self.tree if proc_start_time(pid) == st]
        try:
            wait_for(lambda: not left(), 30, "Chromium's processes to end")
        except AssertionError:
            pass
        killed = []
        for pid, st in left():
            if proc_start_time(pid) == st:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
        shutil.rmtree(self.dir, ignore_errors=True)
        return killed


def the_browser(state, make, start):
    """state["browser"], the one browser of a test: make() and start(it) the
    first time; if that failed, every case that needs it fails with the
    reason."""
    if "browser_error" in state:
        raise AssertionError("the browser did not start: %s" % state["browser_error"])
    if "browser" not in state:
        state["browser"] = b = make()
        try:
            start(b)
        except Exception as e:
            state["browser_error"] = e
            raise
    return state["browser"]


def check_closes(state):
    """test_browser_closes of both tests: the browser quits on its own (exit
    0) and leaves none of the Chromium processes seen; answers how many."""
    b = state.pop("browser", None)
    if b is not None and b.proc is None:
        b.close()  # its folder
    assert b is not None and b.proc is not None, \
        "the browser did not start: %s" % state.get("browser_error")
    tree = [pid for pid, _ in b.tree]
    killed = b.close()
    assert b.proc.returncode == 0, "driver exit %r:\n%s" % (b.proc.returncode, b.stderr())
    assert not killed, "Chromium processes left after quit (killed): %r" % killed
    assert tree, "no Chromium processes were seen"
    return len(tree)
