"""The partition tools on this machine: nftables rules by group id, network namespaces.
Both need root and their tools; without them the tests skip (and so do the scenarios)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from chaos import netfilter, netns
from fahadfs.localcluster import free_ports

SERVER = (
    "import socket,sys;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
    "s.bind(('127.0.0.1',int(sys.argv[1])));s.listen(8)\n"
    "while True:\n c,_=s.accept();c.sendall(b'hi');c.close()"
)


def _hello(port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(2) == b"hi"
    except OSError:
        return False


@pytest.mark.skipif(netfilter.available() is not None, reason=str(netfilter.available()))
def test_isolating_a_group_id_blocks_its_port_until_healed() -> None:
    port = free_ports(1)[0]
    gid = 61999
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)], group=gid, start_new_session=True
    )
    fw = netfilter.Firewall("test_" + str(port))
    try:
        for _ in range(50):
            if _hello(port):
                break
            time.sleep(0.1)
        assert _hello(port)
        fw.isolate("x0", gid, [port])
        assert fw.table in netfilter.leftover_tables()
        assert not _hello(port, timeout=0.5)
        fw.heal("x0")
        assert _hello(port)
    finally:
        fw.destroy()
        proc.kill()
        proc.wait(5)
    assert fw.table not in netfilter.leftover_tables()


@pytest.mark.skipif(netns.available() is not None, reason=str(netns.available()))
def test_topology_connects_hosts_cuts_links_and_is_removed() -> None:
    topo = netns.Topology(["m1", "n1"]).create()
    try:
        names = set(
            subprocess.run(
                ["ip", "netns", "list"], capture_output=True, text=True, check=True
            ).stdout.split()
        )
        assert {topo.bridge_ns, topo.ns("m1"), topo.ns("n1"), topo.ns("h")} <= names

        def ping(src: str, dst: str) -> bool:
            r = subprocess.run(
                [*topo.exec_prefix(src), "ping", "-c1", "-W1", topo.address(dst)],
                capture_output=True,
                check=False,
            )
            return r.returncode == 0

        if subprocess.run(["which", "ping"], capture_output=True).returncode == 0:
            assert ping("m1", "n1")
            topo.cut("n1")
            assert not ping("m1", "n1")
            topo.restore("n1")
            assert ping("m1", "n1")
        with topo.entered():
            s = socket.socket()
            s.bind((topo.address("h"), 0))  # the harness address exists only in its namespace
            s.close()
    finally:
        topo.destroy()
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert topo.tag not in names
