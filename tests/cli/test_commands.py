"""Every file-system command as a subprocess against a real cluster: output, files, exit codes.

One cluster (3 masters, 4 nodes, 64 KiB chunks) serves the whole module; each test works under
its own top-level directory. ``fs`` runs ``python -m fahadfs`` as a subprocess; ``fast`` (the
same CLI called in-process) does the set-up and the many detail checks, so that every command
and every error case still runs at least once as a real subprocess while the module stays quick.
"""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
from pathlib import Path

import pytest

from fahadfs.localcluster import free_ports
from tests.cli.conftest import CHUNK, Fs

pytestmark = pytest.mark.integration


def tree_of(fs: Fs, path: str) -> list[tuple[str, str, int]]:
    """(path, type, size) of everything below ``path`` (the "nothing changed" witness)."""
    rows = json.loads(fs.inproc.ok("ls", "-R", "--json", path))
    return sorted((r["path"], r["type"], r["size"]) for r in rows)


def make_local_tree(root: Path) -> None:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "a.txt").write_bytes(b"alpha\n")
    (root / "sub" / "b.bin").write_bytes(os.urandom(3 * CHUNK + 17))
    (root / "sub" / "deeper" / "c.bin").write_bytes(os.urandom(CHUNK))
    (root / "sub" / "zero").write_bytes(b"")


# -- put / get / cat ------------------------------------------------------------------------


def test_put_get_roundtrip_and_stat_json(fs: Fs, tmp_path: Path) -> None:
    fast = fs.inproc
    data = os.urandom(5 * CHUNK + 1234)
    (tmp_path / "f.bin").write_bytes(data)
    fast.ok("mkdir", "/rt")
    assert fs.ok("put", str(tmp_path / "f.bin"), "/rt/f.bin") == ""
    st = json.loads(fs.ok("stat", "--json", "/rt/f.bin"))
    assert {"path", "type", "size", "version", "replication", "chunks"} <= set(st)
    assert (st["path"], st["type"], st["size"], st["replication"]) == (
        "/rt/f.bin",
        "file",
        len(data),
        3,
    )
    assert len(st["chunks"]) == 6
    for c in st["chunks"]:
        assert {"id", "size", "checksum", "replicas"} <= set(c)
        assert len(c["id"]) == 16 and len(set(c["replicas"])) == 3
    assert sum(c["size"] for c in st["chunks"]) == len(data)
    fs.ok("get", "--no-cache", "/rt/f.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == data
    human = fast.ok("stat", "/rt/f.bin")
    assert "version:" in human and "REPLICAS" in human and f"{len(data)} bytes" in human


def test_put_into_existing_directory_keeps_the_name(fs: Fs, tmp_path: Path) -> None:
    fast = fs.inproc
    for name in ("one.txt", "two.txt"):
        (tmp_path / name).write_text(name)
    fast.ok("mkdir", "/into")
    fast.ok("put", str(tmp_path / "one.txt"), "/into")
    fast.ok("put", str(tmp_path / "one.txt"), str(tmp_path / "two.txt"), "/into/")
    assert fast.ok("ls", "/into").split() == ["one.txt", "two.txt"]
    assert fast.ok("cat", "/into/two.txt") == "two.txt"


def test_put_replaces_an_existing_file(fs: Fs, tmp_path: Path) -> None:
    fast = fs.inproc
    (tmp_path / "v").write_text("version one")
    fast.ok("mkdir", "/repl")
    fast.ok("put", str(tmp_path / "v"), "/repl/v")
    v1 = json.loads(fast.ok("stat", "--json", "/repl/v"))["version"]
    (tmp_path / "v").write_text("version two!")
    fast.ok("put", str(tmp_path / "v"), "/repl/v")
    assert fast.ok("cat", "/repl/v") == "version two!"
    assert json.loads(fast.ok("stat", "--json", "/repl/v"))["version"] != v1


def test_stdin_and_stdout(fs: Fs) -> None:
    fast = fs.inproc
    data = os.urandom(2 * CHUNK + 5)
    fast.ok("mkdir", "/pipe")
    fs.ok("put", "-", "/pipe/in.bin", input=data)
    r = fs.run("get", "/pipe/in.bin", "-")
    assert r.returncode == 0 and r.stdout == data
    r = fs.run("cat", "/pipe/in.bin", "/pipe/in.bin")
    assert r.returncode == 0 and r.stdout == data + data


def test_put_and_get_trees(fs: Fs, tmp_path: Path) -> None:
    fast = fs.inproc
    src = tmp_path / "proj"
    make_local_tree(src)
    fast.ok("mkdir", "/trees")
    out = json.loads(fs.ok("put", "-r", "--json", str(src), "/trees"))  # into: /trees/proj
    assert {r["path"] for r in out} == {
        "/trees/proj/a.txt",
        "/trees/proj/sub/b.bin",
        "/trees/proj/sub/deeper/c.bin",
        "/trees/proj/sub/zero",
    }
    fast.ok("put", "-r", str(src), "/trees/copy")  # a new name: /trees/copy is the tree
    listing = tree_of(fs, "/trees")
    assert ("/trees/proj/empty", "dir", 0) in listing
    assert ("/trees/copy/sub/b.bin", "file", 3 * CHUNK + 17) in listing
    dest = tmp_path / "restore"
    dest.mkdir()
    fs.ok("get", "-r", "/trees/proj", str(dest))
    assert not filecmp.dircmp(src, dest / "proj").diff_files
    cmp = filecmp.dircmp(src, dest / "proj")
    assert not cmp.left_only and not cmp.right_only
    assert (dest / "proj" / "sub" / "deeper" / "c.bin").read_bytes() == (
        src / "sub" / "deeper" / "c.bin"
    ).read_bytes()
    fast.ok("get", "-r", "/trees/copy", str(tmp_path / "fresh"))
    assert (tmp_path / "fresh" / "sub" / "b.bin").read_bytes() == (
        src / "sub" / "b.bin"
    ).read_bytes()


def test_get_into_directory_and_multiple_sources(fs: Fs, tmp_path: Path) -> None:
    fast = fs.inproc
    fast.ok("mkdir", "/multi")
    fast.ok("put", "-", "/multi/a", input=b"A")
    fast.ok("put", "-", "/multi/b", input=b"B")
    fast.ok("get", "/multi/a", "/multi/b", str(tmp_path))
    assert (tmp_path / "a").read_bytes() == b"A" and (tmp_path / "b").read_bytes() == b"B"


# -- namespace --------------------------------------------------------------------------------


def test_ls_forms(fs: Fs) -> None:
    fast = fs.inproc
    fast.ok("mkdir", "-p", "/lsd/sub")
    fast.ok("put", "-", "/lsd/file.txt", input=b"12345")
    assert fast.ok("ls", "/lsd").split() == ["file.txt", "sub/"]
    long = fs.ok("ls", "-l", "/lsd").splitlines()
    assert long[0].startswith("-") and long[0].endswith("file.txt") and "5 B" in long[0]
    assert long[1].startswith("d") and long[1].endswith("sub/")
    entries = json.loads(fs.ok("ls", "--json", "/lsd"))
    assert [(e["name"], e["type"], e["size"]) for e in entries] == [
        ("file.txt", "file", 5),
        ("sub", "dir", 0),
    ]
    assert all(set(e) >= {"name", "type", "size", "mtime"} for e in entries)
    assert isinstance(entries[0]["mtime"], float)
    rec = fast.ok("ls", "-R", "/lsd")
    assert "/lsd:" in rec and "/lsd/sub:" in rec
    assert fast.ok("ls", "/lsd/file.txt").strip() == "file.txt"  # a file lists itself
    assert "lsd/" in fast.ok("ls").split()  # default: /


def test_tree_shows_sizes_and_totals(fs: Fs) -> None:
    fast = fs.inproc
    fast.ok("mkdir", "-p", "/tv/a/b")
    fast.ok("put", "-", "/tv/a/b/x", input=b"x" * 2048)
    fast.ok("put", "-", "/tv/y", input=b"y" * 10)
    lines = fs.ok("tree", "/tv").splitlines()
    assert lines[0] == "/tv/  (2 files, 2.0 KiB)"
    assert "├── a/  (1 file, 2.0 KiB)" in lines
    assert "│   └── b/  (1 file, 2.0 KiB)" in lines
    assert "│       └── x  2.0 KiB" in lines
    assert "└── y  10 B" in lines
    assert lines[-1] == "2 directories, 2 files, 2.0 KiB"
    top = json.loads(fast.ok("tree", "--json", "/tv"))
    assert top["size"] == 2058 and top["files"] == 2
    assert top["children"][1]["health"] == {"ok": True}


def test_mkdir(fs: Fs) -> None:
    fast = fs.inproc
    fast.ok("mkdir", "/mk")
    err = fs.fails("mkdir", "/mk/a/b")
    assert err == "fahadfs: mkdir /mk/a/b: no such directory /mk/a (use -p)"
    fs.ok("mkdir", "-p", "/mk/a/b")
    fast.ok("mkdir", "-p", "/mk/a/b")  # exists: fine with -p
    assert "already exists" in fast.fails("mkdir", "/mk/a")
    assert json.loads(fast.ok("stat", "--json", "/mk/a/b"))["type"] == "dir"


def test_rm_and_rmdir(fs: Fs) -> None:
    fast = fs.inproc
    fast.ok("mkdir", "-p", "/rmx/full/deep")
    fast.ok("mkdir", "/rmx/empty")
    fast.ok("put", "-", "/rmx/full/deep/f", input=b"data")
    fast.ok("put", "-", "/rmx/g", input=b"data")
    fs.ok("rm", "/rmx/g")
    assert "no such file" in fast.fails("rm", "/rmx/g")
    fast.ok("rm", "-f", "/rmx/g")
    assert "is a directory" in fast.fails("rm", "/rmx/empty")
    fs.ok("rmdir", "/rmx/empty")
    assert "not empty" in fast.fails("rmdir", "/rmx/full")
    fs.ok("rm", "-r", "/rmx/full")
    assert fast.ok("ls", "/rmx") == ""


def test_mv(fs: Fs) -> None:
    fast = fs.inproc
    fast.ok("mkdir", "-p", "/mvx/dir")
    fast.ok("put", "-", "/mvx/a", input=b"AAA")
    fast.ok("mv", "/mvx/a", "/mvx/b")  # rename
    fs.ok("mv", "/mvx/b", "/mvx/dir")  # into a directory
    assert fast.ok("cat", "/mvx/dir/b") == "AAA"
    fast.ok("mkdir", "/mvx/other")
    fast.ok("mv", "/mvx/dir", "/mvx/other")  # a directory into a directory
    assert tree_of(fs, "/mvx") == [
        ("/mvx/other", "dir", 0),
        ("/mvx/other/dir", "dir", 0),
        ("/mvx/other/dir/b", "file", 3),
    ]


def test_cp(fs: Fs) -> None:
    fast = fs.inproc
    fast.ok("mkdir", "-p", "/cpx/src/inner")
    fast.ok("put", "-", "/cpx/src/inner/f", input=os.urandom(CHUNK + 1))
    fast.ok("put", "-", "/cpx/one", input=b"one")
    fs.ok("cp", "/cpx/one", "/cpx/two")
    fast.ok("cp", "/cpx/one", "/cpx/src")  # into
    assert fast.ok("cat", "/cpx/two") == "one" and fast.ok("cat", "/cpx/src/one") == "one"
    assert "use -r" in fast.fails("cp", "/cpx/src", "/cpx/dst")
    fs.ok("cp", "-r", "/cpx/src", "/cpx/dst")
    a = fast.run("cat", "/cpx/src/inner/f").stdout
    assert fast.run("cat", "/cpx/dst/inner/f").stdout == a
    st_a = json.loads(fast.ok("stat", "--json", "/cpx/src/inner/f"))
    st_b = json.loads(fast.ok("stat", "--json", "/cpx/dst/inner/f"))
    assert [c["id"] for c in st_a["chunks"]] == [c["id"] for c in st_b["chunks"]]  # shared
    assert "into itself" in fast.fails("cp", "-r", "/cpx/src", "/cpx/src/inner")


def test_du_and_df(fs: Fs) -> None:
    fast = fs.inproc
    fast.ok("mkdir", "-p", "/dux/a")
    fast.ok("put", "-", "/dux/a/f", input=b"x" * 1000)
    fast.ok("put", "-", "/dux/g", input=b"x" * 24)
    lines = fs.ok("du", "-b", "/dux").splitlines()
    assert [line.split() for line in lines] == [["1000", "/dux/a"], ["1024", "/dux"]]
    assert fast.ok("du", "-s", "/dux").split() == ["1.0", "KiB", "/dux"]
    total = json.loads(fast.ok("du", "-s", "--json", "/dux"))
    assert total == {"path": "/dux", "size": 1024, "stored_bytes": 3072, "files": 2, "dirs": 1}
    df = json.loads(fs.ok("df", "--json"))
    assert df["live_nodes"] == df["nodes"] == 4
    assert df["capacity_bytes"] == 4 << 30 and df["used_bytes"] > 0
    assert 0 < df["free_bytes"] <= df["capacity_bytes"]
    human = fast.ok("df", "-n")
    assert "4/4 nodes live" in human and "n1" in human


# -- cluster views ----------------------------------------------------------------------------


def test_status(fs: Fs) -> None:
    fast = fs.inproc
    st = json.loads(fs.ok("status", "--json"))
    assert {"leader", "safemode", "under_replicated_chunks", "masters", "nodes"} <= set(st)
    assert st["leader"] in {"m1", "m2", "m3"} and st["safemode"] is False
    assert st["under_replicated_chunks"] == 0
    assert [m["id"] for m in st["masters"]] == ["m1", "m2", "m3"]
    for m in st["masters"]:
        assert {"id", "role", "term", "commit_index", "alive"} <= set(m)
        assert m["alive"] is True and m["commit_index"] > 0
    assert sorted(m["role"] for m in st["masters"]) == ["follower", "follower", "leader"]
    assert [n["id"] for n in st["nodes"]] == ["n1", "n2", "n3", "n4"]
    for n in st["nodes"]:
        assert {"id", "alive", "state", "used_bytes", "free_bytes", "chunks"} <= set(n)
        assert n["alive"] is True and n["state"] == "active"
    human = fast.ok("status")
    assert f"leader {st['leader']}" in human and "4 of 4 file nodes live" in human
    assert "replication: healthy" in human


def test_fsck_healthy_and_node_list(fs: Fs) -> None:
    fast = fs.inproc
    fast.ok("mkdir", "/fsk")
    fast.ok("put", "-", "/fsk/f", input=os.urandom(2 * CHUNK))
    report = json.loads(fs.ok("fsck", "--json", "/fsk"))
    assert report["healthy"] is True and report["problems"] == []
    assert (report["files"], report["chunks"]) == (1, 2)
    assert report["under_replicated"] == report["missing"] == report["corrupt"] == 0
    assert fast.ok("fsck", "/fsk").strip().endswith("HEALTHY")
    nodes = json.loads(fs.ok("node", "list", "--json"))
    assert [n["id"] for n in nodes] == ["n1", "n2", "n3", "n4"]
    assert "NODE" in fast.ok("node", "list")


# -- bad input: one line, exit 1, nothing changed ---------------------------------------------


def test_missing_local_file(fs: Fs, tmp_path: Path) -> None:
    fast = fs.inproc
    fast.ok("mkdir", "/bad1")
    before = tree_of(fs, "/bad1")
    err = fs.fails("put", str(tmp_path / "nope.bin"), "/bad1/x")
    assert err == f"fahadfs: put {tmp_path / 'nope.bin'}: no such local file or directory"
    assert tree_of(fs, "/bad1") == before


@pytest.mark.parametrize(
    "argv",
    [
        ["get", "/bad2/none", "."],
        ["cat", "/bad2/none"],
        ["ls", "/bad2/none"],
        ["stat", "/bad2/none"],
        ["rm", "/bad2/none"],
        ["mv", "/bad2/none", "/bad2/other"],
        ["cp", "/bad2/none", "/bad2/other"],
        ["tree", "/bad2/none"],
        ["du", "/bad2/none"],
        ["fsck", "/bad2/none"],
    ],
)
def test_remote_path_not_found(fs: Fs, argv: list[str], tmp_path: Path) -> None:
    fast = fs.inproc
    fast.ok("mkdir", "-p", "/bad2")
    runner = fs if argv[0] in ("get", "cat", "stat") else fast  # a few as real processes
    err = runner.fails(*argv, cwd=tmp_path)
    assert "no such file or directory /bad2/none" in err, err
    assert tree_of(fs, "/bad2") == []
    assert list(tmp_path.iterdir()) == []


def test_rm_of_non_empty_directory_without_r(fs: Fs) -> None:
    fast = fs.inproc
    fast.ok("mkdir", "-p", "/bad3/d")
    fast.ok("put", "-", "/bad3/d/f", input=b"keep me")
    before = tree_of(fs, "/bad3")
    err = fs.fails("rm", "/bad3/d")
    assert err == "fahadfs: rm /bad3/d: is a directory and not empty (use -r)"
    assert tree_of(fs, "/bad3") == before


def test_mv_of_directory_into_itself(fs: Fs) -> None:
    fast = fs.inproc
    fast.ok("mkdir", "-p", "/bad4/d/inner")
    before = tree_of(fs, "/bad4")
    err = fs.fails("mv", "/bad4/d", "/bad4/d/inner")
    assert "cannot move a directory inside itself" in err
    err = fast.fails("mv", "/bad4/d", "/bad4/d/new")
    assert "cannot move a directory inside itself" in err
    assert tree_of(fs, "/bad4") == before


def test_put_over_an_existing_directory(fs: Fs, tmp_path: Path) -> None:
    fast = fs.inproc
    (tmp_path / "x").write_bytes(os.urandom(3 * CHUNK))
    fast.ok("mkdir", "-p", "/bad5/x")  # /bad5/x is a directory: put x /bad5 would land on it
    before = tree_of(fs, "/bad5")
    err = fs.fails("put", str(tmp_path / "x"), "/bad5")
    assert err == f"fahadfs: put {tmp_path / 'x'}: /bad5/x is an existing directory"
    err = fast.fails("put", "-", "/bad5/x", input=b"data")
    assert "is a directory" in err
    err = fast.fails("put", str(tmp_path), "/bad5")
    assert err.endswith("is a directory (use -r)")
    assert tree_of(fs, "/bad5") == before


def test_put_into_missing_directory(fs: Fs, tmp_path: Path) -> None:
    fast = fs.inproc
    (tmp_path / "x").write_bytes(b"x")
    err = fast.fails("put", str(tmp_path / "x"), "/bad6/none/x")
    assert err == f"fahadfs: put {tmp_path / 'x'}: no such directory /bad6/none (use -p)"
    assert "(use -p)" in fast.fails("put", "-", "/bad6/none/y", input=b"y")
    assert "no such file" in fast.fails("ls", "/bad6")
    fast.ok("put", "-p", str(tmp_path / "x"), "/bad6/a/b/")  # a new directory, by the slash
    fast.ok("put", "-p", str(tmp_path / "x"), "/bad6/c/renamed")
    fast.ok("put", "-p", "-", "/bad6/d/e/stdin", input=b"in")
    assert [p for p, kind, _ in tree_of(fs, "/bad6") if kind == "file"] == [
        "/bad6/a/b/x",
        "/bad6/c/renamed",
        "/bad6/d/e/stdin",
    ]


def test_unreachable_masters(fs: Fs, tmp_path: Path) -> None:
    fast = fs.inproc
    p1, p2 = free_ports(2)
    masters = f"127.0.0.1:{p1},127.0.0.1:{p2}"
    err = fs.fails("ls", "/", "--masters", masters, "--timeout", "1.5")
    assert err == f"fahadfs: ls /: no master reachable (tried 127.0.0.1:{p1}, 127.0.0.1:{p2})"
    (tmp_path / "x").write_bytes(b"x")
    err = fast.fails("--masters", masters, "--timeout", "1", "put", str(tmp_path / "x"), "/x")
    assert "no master reachable" in err
    # No cluster file at all: --masters alone is enough to know where to go.
    err = fast.fails(
        "stat", "/", "--masters", masters, "--timeout", "1", env={"FAHADFS_CONFIG": ""},
        cwd=tmp_path,
    )  # fmt: skip
    assert "no master reachable" in err
    r = fast.run("status", "--masters", masters, "--timeout", "1")
    assert r.returncode == 1 and r.stdout.count(b"unreachable") == 2
    assert r.stderr == b"fahadfs: status: no leader (0 of 2 masters reachable)\n"


def test_usage_errors_exit_2(fs: Fs) -> None:
    fast = fs.inproc
    for argv in (["frobnicate"], ["put"], ["ls", "--bogus"], ["mkdir"], []):
        r = fast.run(*argv)
        assert r.returncode == 2, argv


def test_a_bad_config_file_is_one_line(fs: Fs, tmp_path: Path) -> None:
    fast = fs.inproc
    (tmp_path / "bad.toml").write_text("[cluster\n")
    err = fast.fails("ls", "/", "-c", str(tmp_path / "bad.toml"))
    assert "not valid TOML" in err


def test_verbose_shows_a_traceback(fs: Fs) -> None:
    r = fs.run("-v", "ls", "/no/such/dir")
    assert r.returncode == 1 and b"Traceback" in r.stderr


# -- help, completion, progress ---------------------------------------------------------------


def test_help_shows_examples_and_exit_codes(fs: Fs) -> None:
    fast = fs.inproc
    top = fs.ok("--help")
    assert "examples:" in top and "exit status:" in top and "2  usage error" in top
    for cmd in ("put", "get", "ls", "tree", "fsck", "status", "stat", "du", "df", "cp", "mv"):
        assert "examples:" in fast.ok(cmd, "--help"), cmd


def test_bash_completion_script(fs: Fs, tmp_path: Path) -> None:
    fast = fs.inproc
    script = fs.ok("completion", "bash")
    assert "complete -F _fahadfs fahadfs" in script
    path = tmp_path / "c.bash"
    path.write_text(script)
    subprocess.run(["bash", "-n", str(path)], check=True)
    fast.ok("mkdir", "-p", "/compl/dir")
    fast.ok("put", "-", "/compl/file", input=b"")
    assert fast.ok("__complete", "/compl/").split() == ["/compl/dir/", "/compl/file"]
    assert fast.ok("__complete", "/compl/f").split() == ["/compl/file"]


def test_progress_bar_only_on_a_terminal(fs: Fs, tmp_path: Path) -> None:
    import fcntl
    import pty
    import struct
    import sys
    import termios

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(2 << 20))
    fs.inproc.ok("mkdir", "/prog")
    quiet = fs.run("put", str(big), "/prog/piped")  # stdout is a pipe: no bar
    assert quiet.returncode == 0 and quiet.stderr == b""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = {**os.environ, "FAHADFS_CONFIG": str(fs.cluster.config_path),
           "FAHADFS_CACHE_DIR": str(fs.cache_dir)}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "fahadfs", "put", str(big), "/prog/tty"],
        stdout=slave,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(slave)
    out = b""
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
    assert proc.wait(60) == 0
    os.close(master)
    assert b"100%" in out and b"/s]" in out and b"2.00M/2.00M" in out
