"""The image verifier (verify_image.py) against images stamped by the C++ stamp code."""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
VERIFY = os.path.join(HERE, "verify_image.py")
TOOL = os.environ.get("PVSCSI_STAMP_TOOL")

pytestmark = pytest.mark.skipif(not TOOL, reason="PVSCSI_STAMP_TOOL not set (run through ctest)")


def make_image(path, bs, blocks=64, seed=7, target=1, lun=0):
    subprocess.run([TOOL, str(path), str(bs), str(blocks), str(seed), str(target), str(lun)],
                   check=True)


def verify(*args):
    return subprocess.run([sys.executable, VERIFY, *map(str, args)], capture_output=True,
                          text=True)


@pytest.mark.parametrize("bs", [512, 4096])
def test_clean_image_verifies(tmp_path, bs):
    img = tmp_path / "disk.img"
    make_image(img, bs)
    r = verify(img, "--block-size", bs, "--seed", 7, "--target", 1, "--lun", 0, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads(r.stdout)
    assert summary["blocks"] == 64
    assert summary["stamp"] == 32
    assert summary["zero"] == 32
    assert summary["bad"] == 0
    assert summary["max_write_seq"] == 63


def flip_payload_byte(data):
    data[4 * 512 + 300] ^= 0x10  # a payload byte of lba 4


def misdirect_lba2_to_lba6(data):
    data[6 * 512:7 * 512] = data[2 * 512:3 * 512]  # lba 2's block written at lba 6


@pytest.mark.parametrize("damage, finding", [
    (flip_payload_byte, "lba 4: checksum"),
    (misdirect_lba2_to_lba6, "lba 6: holds the block written for lba 2"),
])
def test_damage_is_found(tmp_path, damage, finding):
    img = tmp_path / "disk.img"
    make_image(img, 512)
    data = bytearray(img.read_bytes())
    damage(data)
    img.write_bytes(bytes(data))
    r = verify(img)
    assert r.returncode == 1
    assert finding in r.stdout


def test_wrong_seed_or_target(tmp_path):
    img = tmp_path / "disk.img"
    make_image(img, 512)
    assert verify(img, "--seed", 8).returncode == 1
    assert verify(img, "--target", 0).returncode == 1


def test_usage_errors(tmp_path):
    r = verify(tmp_path / "missing.img")
    assert r.returncode == 2
    assert "missing.img" in r.stderr
    assert verify(tmp_path / "x", "--block-size", "100").returncode == 2
    assert verify("--bogus").returncode == 2
