"""External resource types: Concourse's check / in / out scripts, run unchanged."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.script import ScriptResourceType

TESTDATA = Path(__file__).parent / "testdata"
COUNTER = TESTDATA / "counter"

pytestmark = pytest.mark.skipif(shutil.which("jq") is None,
                                reason="the Concourse-style test resource needs jq")


class Logs:
    def __init__(self) -> None:
        self.chunks: list[str] = []

    async def __call__(self, text: str) -> None:
        self.chunks.append(text)

    @property
    def text(self) -> str:
        return "".join(self.chunks)


@pytest.fixture
def counter_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "service"
    directory.mkdir()
    return directory


async def test_check_answers_the_versions_since_the_given_one(counter_dir: Path) -> None:
    rtype = ScriptResourceType(COUNTER)
    source = {"dir": str(counter_dir)}
    log = Logs()
    assert await rtype.check(source, None, log=log) == []
    (counter_dir / "count").write_text("4\n")
    assert await rtype.check(source, None, log=log) == [{"count": "4"}]
    assert await rtype.check(source, {"count": "2"}, log=log) == [
        {"count": "2"}, {"count": "3"}, {"count": "4"}]
    assert f"checking {counter_dir}: at 4" in log.text
    assert "build vars: 0" in log.text  # check never sees the build's metadata


async def test_in_fetches_into_dest_with_the_build_env(counter_dir: Path,
                                                       tmp_path: Path) -> None:
    rtype = ScriptResourceType(COUNTER)
    dest = tmp_path / "dest"
    log = Logs()
    fetched = await rtype.get({"dir": str(counter_dir)}, {"count": "3"}, {"prefix": "v"},
                              dest, log=log,
                              env={"BUILD_NAME": "12", "ATC_EXTERNAL_URL": "http://ci"})
    assert fetched.version == {"count": "3"}
    assert [(m.name, m.value) for m in fetched.metadata] == [("build", "12")]
    assert (dest / "count").read_text() == "v3\n"
    assert (dest / "env").read_text() == "ATC_EXTERNAL_URL=http://ci\nBUILD_NAME=12\n"
    assert log.text == "fetched 3\n"


async def test_out_pushes_from_the_sources_dir(counter_dir: Path, tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    (sources / "numbers").mkdir(parents=True)
    (sources / "numbers" / "next").write_text("9")
    fetched = await ScriptResourceType(COUNTER).put(
        {"dir": str(counter_dir)}, {"file": "numbers/next"}, sources, log=Logs(),
        env={"BUILD_JOB_NAME": "release"})
    assert fetched.version == {"count": "9"}
    assert fetched.metadata[0].value == "release"
    assert (counter_dir / "count").read_text() == "9\n"


async def test_a_failing_script_names_itself_its_status_and_its_last_stderr_lines(
        counter_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "sources").mkdir()
    with pytest.raises(ResourceError) as failure:
        await ScriptResourceType(COUNTER).put({"dir": str(counter_dir)}, {"fail": True},
                                              tmp_path / "sources", log=Logs())
    message = str(failure.value)
    assert message.startswith(f"{COUNTER / 'out'} failed with exit status 3")
    assert message.endswith("  contacting the counter service\n"
                            "  error: the counter refused the push")


async def test_a_missing_source_field_is_reported_from_stderr() -> None:
    with pytest.raises(ResourceError, match=r"exit status 1; last lines of stderr:\n"
                                            r"  source.dir is required"):
        await ScriptResourceType(COUNTER).check({}, None, log=Logs())


async def test_scripts_in_the_concourse_image_layout_run_and_bad_json_is_an_error() -> None:
    rtype = ScriptResourceType(TESTDATA / "badjson")
    assert rtype.directory == TESTDATA / "badjson" / "opt" / "resource"
    with pytest.raises(ResourceError, match=r"check answered invalid JSON .*: this is not json"):
        await rtype.check({}, None, log=Logs())


def write_script(directory: Path, name: str, body: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


async def test_a_script_that_outlives_its_timeout_is_killed(tmp_path: Path) -> None:
    write_script(tmp_path / "slow", "check", "echo 'waiting for the server' >&2; sleep 30")
    rtype = ScriptResourceType(tmp_path / "slow", timeout=0.5, kill_grace=1.0)
    started = time.monotonic()
    with pytest.raises(ResourceError, match=r"check timed out after 0.5s; last lines of "
                                            r"stderr:\n  waiting for the server"):
        await rtype.check({}, None, log=Logs())
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(("answer", "problem"), [
    ('{"count": "1"}', "expected a JSON list of versions"),
    ('[{"count": 1}]', "a version is a JSON object of strings"),
])
async def test_check_answers_of_the_wrong_shape_are_errors(tmp_path: Path, answer: str,
                                                           problem: str) -> None:
    write_script(tmp_path / "odd", "check", f"echo '{answer}'")
    with pytest.raises(ResourceError, match=problem):
        await ScriptResourceType(tmp_path / "odd").check({}, None, log=Logs())


async def test_in_must_answer_a_version(tmp_path: Path) -> None:
    write_script(tmp_path / "odd", "check", "echo '[]'")
    write_script(tmp_path / "odd", "in", "echo '{\"metadata\": []}'")
    with pytest.raises(ResourceError, match=re.escape('expected {"version"')):
        await ScriptResourceType(tmp_path / "odd").get({}, {"v": "1"}, {}, tmp_path / "d",
                                                       log=Logs())


def test_a_directory_without_scripts_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ResourceError, match="has no check script"):
        ScriptResourceType(tmp_path)
