"""The installed distribution's metadata: what PyPI and pip will show."""

from __future__ import annotations

import os
import re
from importlib import metadata

import pytest

try:
    META = metadata.metadata("shardwise")
except metadata.PackageNotFoundError:
    if not os.environ.get("SHARDWISE_ALLOW_SOURCE"):
        raise
    pytest.skip("metadata exists only for an installed wheel (source-tree run)", allow_module_level=True)


def test_license_is_declared_and_shipped() -> None:
    assert META["License-Expression"] == "MIT"
    files = metadata.files("shardwise") or []
    licenses = [f for f in files if f.name == "LICENSE"]
    assert licenses, "LICENSE is not in the installed distribution"
    assert "MIT License" in licenses[0].read_text()


@pytest.mark.parametrize(
    "classifier",
    [
        "Development Status :: 4 - Beta",
        "Operating System :: POSIX :: Linux",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Typing :: Typed",
    ],
)
def test_classifiers(classifier: str) -> None:
    assert classifier in META.get_all("Classifier", [])


def test_project_urls() -> None:
    urls = dict(u.split(", ", 1) for u in META.get_all("Project-URL", []))
    assert {"Documentation", "Source", "Changelog"} <= set(urls)
    assert all(u.startswith("https://") for u in urls.values())


def test_no_development_pins_in_published_extras() -> None:
    extras = set(META.get_all("Provides-Extra", []))
    assert "dev" not in extras
    requirements = META.get_all("Requires-Dist", [])
    assert not [r for r in requirements if re.match(r"(ruff|mypy|maturin)\b", r)]


def test_long_description_starts_with_pip_install_and_links_absolutely() -> None:
    description = META["Description"]  # the body (stdlib and the importlib_metadata backport dask loads)
    assert isinstance(description, str) and description
    first_code = re.search(r"```\w*\n(.*?)```", description, flags=re.S)
    assert first_code is not None and first_code.group(1).startswith("pip install shardwise")
    prose_before = description[: first_code.start()].strip()
    assert prose_before.startswith("#") and "\n" not in prose_before, "only the title may precede pip install"
    links = re.findall(r"\]\(([^)]+)\)", description)
    assert links and all(link.startswith("https://") for link in links), links


def test_contributor_guide_not_in_the_wheel() -> None:
    assert not [f for f in metadata.files("shardwise") or [] if f.name == "README-dev.md"]
