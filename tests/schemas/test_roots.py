"""UriRoots: a URI an event names is under a configured root, or it is refused."""

from __future__ import annotations

from pathlib import Path

from schemas.roots import UriRoots


def test_local_paths_are_compared_after_resolving_links(tmp_path: Path) -> None:
    root = tmp_path / "store"
    (root / "a").mkdir(parents=True)
    (tmp_path / "store-old").mkdir()
    (root / "escape").symlink_to(tmp_path / "store-old")
    roots = UriRoots([str(root)])
    assert roots.holds(str(root / "a" / "x.png"))
    assert roots.holds(f"file://{root}/a/x.png")
    assert not roots.holds(str(root / "a" / ".." / ".." / "store-old" / "x.png"))
    assert not roots.holds(str(tmp_path / "store-old" / "x.png"))  # a look-alike sibling
    assert not roots.holds(str(root / "escape" / "x.png"))  # a link out of the root
    assert not roots.holds("/etc/passwd")


def test_remote_uris_keep_their_scheme_and_refuse_dot_segments() -> None:
    roots = UriRoots(["s3://bucket/models"])
    assert roots.holds("s3://bucket/models/v0002")
    assert not roots.holds("s3://bucket/models/../secrets/key")
    assert not roots.holds("s3://bucket/models/./v0002")
    assert not roots.holds("gcs://bucket/models/v0002")
    assert not roots.holds("http://10.255.255.1/models/v0002")
    assert not roots.holds("file:///bucket/models/v0002")


def test_no_roots_hold_nothing() -> None:
    assert not UriRoots([]).holds("/tmp/x")
