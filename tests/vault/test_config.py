"""config.toml: defaults, overrides, and a clear error for every bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from vault.home.config import ConfigError, NodeConfig, load_config, network_settings

PEER = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWBPAZDe4rNFSjc6Qrcs7mSTLN7eiMDYBFSh4mRFfscyP6"


def test_no_file_means_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert config == NodeConfig()
    assert config.network.listen == ("/ip4/0.0.0.0/tcp/4747",)
    assert config.network.bootstrap == ()
    assert config.network.mdns is False


def test_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        f'[network]\nlisten = ["/ip4/127.0.0.1/tcp/4001"]\nbootstrap = ["{PEER}"]\nmdns = true\n'
    )
    net = load_config(tmp_path).network
    assert net.listen == ("/ip4/127.0.0.1/tcp/4001",)
    assert net.bootstrap == (PEER,)
    assert net.mdns is True


def test_flags_override_and_extend(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(f'[network]\nbootstrap = ["{PEER}"]\nmdns = true\n')
    other = PEER.replace("4001", "4002")
    net = network_settings(
        load_config(tmp_path), listen=["/ip4/127.0.0.1/tcp/0"], bootstrap=[other, PEER], mdns=False
    )
    assert net.listen == ("/ip4/127.0.0.1/tcp/0",)
    assert net.bootstrap == (PEER, other)  # the file's first, no duplicates
    assert net.mdns is False
    assert network_settings(load_config(tmp_path)).mdns is True


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[network\nlisten = 1", "not valid TOML"),
        ('[network]\nlisten = ["tcp:4001"]', "not a multiaddr"),
        ('[network]\nbootstrap = ["/ip4/127.0.0.1/tcp/4001"]', "needs its /p2p/"),
        ("[network]\nmdns = 'yes please'", "network.mdns"),
        ("[netwerk]\nmdns = true", "netwerk"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    before = path.read_bytes()
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    assert fragment in err.value.message
    assert str(path) in err.value.message
    assert path.read_bytes() == before


def test_bad_flag_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        network_settings(NodeConfig(), bootstrap=["/ip4/127.0.0.1/tcp/1"])


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_bytes(b"#" * (65 * 1024))
    with pytest.raises(ConfigError, match="over 64 KiB"):
        load_config(tmp_path)
