"""The command line and configuration: help, bad commands, the admin key
command, and configurations refused at start with file, line and reason."""
import os
import subprocess

from gwtest import BASE_CONFIG, BIN, Gateway, expect_error, run


def smsgw(*args, env=None, timeout=30):
    return subprocess.run([BIN, *args], env=dict(os.environ, **(env or {})),
                          capture_output=True, text=True, timeout=timeout)


def test_help_version_and_bad_commands():
    r = smsgw("--help")
    assert r.returncode == 0 and "admin create-key" in r.stdout, r
    assert smsgw("--version").stdout.startswith("smsgw ")
    for args in (("frobnicate",), ("admin",), ("admin", "delete-everything"), ("--bogus",)):
        r = smsgw(*args)
        assert r.returncode == 2 and "smsgw --help" in r.stderr, (args, r)


def test_admin_create_key():
    gw = Gateway()
    try:
        env = {"SMSGW_DATA_DIR": gw.data, "SMSGW_CONFIG": gw.cfg}
        r = smsgw("admin", "create-key", env=env)
        assert r.returncode == 0, r
        key = r.stdout.strip()
        assert len(key) == 36 and key.startswith("sgw_"), key
        gw.env.pop("SMSGW_ADMIN_KEY")  # only the stored key
        gw.start()
        r = gw.post("/v1/tenants", {"name": "by-cli-key"}, key=key)
        assert r.status == 201, r
        expect_error(gw.post("/v1/tenants", {"name": "x"}, key="sgw_" + "1" * 32), 401,
                     "unauthorized", "Invalid API key")
        # while the gateway runs, the data folder is locked: a clear error
        r = smsgw("admin", "create-key", env=env)
        assert r.returncode == 1 and "cannot open the store" in r.stderr, r
    finally:
        gw.cleanup()


def refused(config, expect):
    gw = Gateway(config=config)
    try:
        r = subprocess.run([BIN], env=gw.env, capture_output=True, text=True, timeout=30)
        assert r.returncode != 0, "started with a bad config: %r" % config
        assert gw.cfg in r.stderr and expect in r.stderr, r.stderr
        c = smsgw("check-config", env={"SMSGW_CONFIG": gw.cfg})
        assert c.returncode != 0 and expect in c.stderr, c
    finally:
        gw.cleanup()


def test_bad_configs_refused():
    line = BASE_CONFIG.count("\n") + 1  # where the appended text starts
    refused("store = { sync = ", ":%d: syntax error" % line)
    refused("http = { threads = \"many\"; };", ":%d: 'http.threads' must be an integer" % line)
    refused("store = { sync = \"sometimes\"; };", "'store.sync' must be one of")
    refused("actors = { sendr = { threads = 2; }; };", "unknown setting 'actors.sendr'")
    r = smsgw(env={"SMSGW_CONFIG": "/nonexistent.cfg"})
    assert r.returncode == 1 and "/nonexistent.cfg" in r.stderr, r
    r = smsgw(env={"SMSGW_ADMIN_KEY": "not-a-key", "SMSGW_LISTEN": "127.0.0.1:1",
                   "SMSGW_DATA_DIR": "/tmp/smsgw-never-used-%d" % os.getpid()})
    assert r.returncode == 1 and "admin_key" in r.stderr, r


def test_good_config_and_defaults():
    gw = Gateway()
    try:
        c = smsgw("check-config", env={"SMSGW_CONFIG": gw.cfg})
        assert c.returncode == 0 and "configuration ok" in c.stdout, c
        d = smsgw("config", "defaults")
        repo_cfg = os.path.join(os.path.dirname(__file__), "..", "..", "etc", "smsgw.cfg")
        with open(repo_cfg) as f:
            assert d.stdout == f.read()  # the binary embeds the shipped file
    finally:
        gw.cleanup()


def test_secret_key_from_environment():
    gw = Gateway(env={"SMSGW_SECRET_KEY": "ab" * 32})
    try:
        gw.start()
        assert not os.path.exists(os.path.join(gw.data, "secret.key"))
    finally:
        gw.cleanup()
    # the default: a private key file, created once
    gw = Gateway()
    try:
        gw.start()
        path = os.path.join(gw.data, "secret.key")
        assert os.stat(path).st_mode & 0o777 == 0o600
        with open(path) as f:
            first = f.read()
        gw.stop()
        gw.start()
        with open(path) as f:
            assert f.read() == first
    finally:
        gw.cleanup()
    r = smsgw(env={"SMSGW_SECRET_KEY": "not-hex", "SMSGW_LISTEN": "127.0.0.1:1",
                   "SMSGW_DATA_DIR": "/tmp/smsgw-never-used-%d" % os.getpid()})
    assert r.returncode == 1 and "SMSGW_SECRET_KEY" in r.stderr, r


run([
    ("--help, --version, unknown commands exit 2", test_help_version_and_bad_commands),
    ("SMSGW_SECRET_KEY is used; without it a 0600 key file is made once; a bad one refused",
     test_secret_key_from_environment),
    ("admin create-key makes a working admin key; refused while running", test_admin_create_key),
    ("bad configs are refused at start with file, line and reason", test_bad_configs_refused),
    ("check-config accepts a good file; config defaults is etc/smsgw.cfg", test_good_config_and_defaults),
])
