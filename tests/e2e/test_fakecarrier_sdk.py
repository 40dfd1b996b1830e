"""bench/fakecarrier against RingCentral's official JavaScript SDK
(@ringcentral/sdk): tests/sdk/sdk_check.mjs logs in with a JWT, sends an SMS,
reads it back until Delivered, survives an expired token and logs out; then
the fake's control API must show the SMS it received.

Needs Node.js (etc/bootstrap.sh installs Debian's) and the SDK in
tests/sdk/node_modules (tests/run.sh runs npm ci --prefix tests/sdk --no-audit
--no-fund). Without them this test fails; it does not skip."""
import os
import shutil
import subprocess

from fctest import EXT1, NUM1, FakeCarrier, run

SOURCE_DIR = os.environ.get("SMSGW_SOURCE_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
SDK_DIR = os.path.join(SOURCE_DIR, "tests", "sdk")
INSTALL = ("run `sh etc/bootstrap.sh && sh tests/run.sh` (the first installs Debian's nodejs "
           "and npm when node is missing, the second runs "
           "`npm ci --prefix tests/sdk --no-audit --no-fund`)")


def test_official_js_sdk():
    node = shutil.which("node")
    assert node, "node is not installed: " + INSTALL
    sdk = os.path.join(SDK_DIR, "node_modules", "@ringcentral", "sdk", "package.json")
    assert os.path.exists(sdk), "tests/sdk/node_modules has no @ringcentral/sdk: " + INSTALL
    fc = FakeCarrier().start()
    r = subprocess.run([node, os.path.join(SDK_DIR, "sdk_check.mjs"), fc.url],
                       capture_output=True, text=True, timeout=180, cwd=SOURCE_DIR)
    print(r.stdout, end="", flush=True)
    assert r.returncode == 0, "sdk_check.mjs failed (exit %d):\n%s%s" % (
        r.returncode, r.stdout, r.stderr)
    assert "sdk check passed" in r.stdout, r.stdout
    sent = fc.messages()
    assert len(sent) == 1, sent
    m = sent[0]
    assert m["from"] == NUM1 and m["to"] == ["+15559870001"], m
    assert m["text"].startswith("Hello from the RingCentral JS SDK"), m
    assert m["extensionId"] == EXT1 and m["status"] == "Delivered", m
    st = fc.stats()
    assert st["token_requests"]["jwt"] == 1, st
    assert st["token_requests"]["refresh_token"] >= 2, st  # after the 401, and explicit
    assert st["sms_accepted"] == 1 and st["responses"].get("401") == 1, st
    assert fc.stop() == 0


if __name__ == "__main__":
    run([("test_official_js_sdk", test_official_js_sdk)])
