"""The command line saves a download only inside the folder the user chose, whatever file name the server sends,
and never prints the link's signature."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from exports import cli

SAS = "https://acct.blob.core.windows.net/exports/f.csv?sv=2025-01-05&sr=b&sp=r&sig=SECRETSIGNATURE%3D"


class FakeClient(cli.Client):
    """The API as a stub: a redirect to the file link, and the job with the server's file name."""

    def __init__(self, file_name: object) -> None:
        super().__init__("http://127.0.0.1:9/api", "principal")
        self.file_name = file_name

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = requests.Response()
        response.status_code = 302
        response.headers["Location"] = SAS
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return {"jobId": "0001-abc", "fileName": self.file_name}


class FileAnswer:
    def __init__(self, status: int = 200, content: bytes = b"a,b\r\n") -> None:
        self.status_code, self.content = status, content

    def __enter__(self) -> FileAnswer:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            response = requests.Response()
            response.status_code = self.status_code
            raise requests.exceptions.HTTPError(f"{self.status_code} Client Error: for url: {SAS}", response=response)

    def iter_content(self, chunk_size: int) -> list[bytes]:
        return [self.content]


@pytest.fixture
def storage(monkeypatch: pytest.MonkeyPatch) -> list[FileAnswer | Exception]:
    answers: list[FileAnswer | Exception] = []

    def get(url: str, **kwargs: Any) -> FileAnswer:
        answer = answers.pop(0) if answers else FileAnswer()
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr("exports.cli.requests.get", get)
    return answers


@pytest.mark.parametrize(
    ("server_name", "saved_as"),
    [
        ("cases-flat_file-20261122-065001.csv", "cases-flat_file-20261122-065001.csv"),
        ("../../outside.csv", "outside.csv"),
        ("..\\..\\outside.csv", "outside.csv"),
        ("/etc/cron.d/job", "job"),
        ("../.bashrc", "bashrc"),
        ("..", "export-0001-abc"),
        ("", "export-0001-abc"),
        (None, "export-0001-abc"),
        ("report\x1b]0;title\x07.csv", "report_]0;title_.csv"),
    ],
)
def test_a_file_name_from_the_server_is_reduced_to_a_base_name_inside_the_chosen_folder(
    tmp_path: Path, storage: list[FileAnswer | Exception], server_name: object, saved_as: str
) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()

    saved = cli.download(FakeClient(server_name), "0001-abc", str(folder))

    assert saved == folder / saved_as and saved.read_bytes() == b"a,b\r\n"
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == [saved], "nothing written elsewhere"


def test_a_symbolic_link_in_the_folder_is_not_followed(tmp_path: Path, storage: list[FileAnswer | Exception]) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("untouched")
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "report.csv").symlink_to(outside)

    with pytest.raises(cli.CliError, match="symbolic link"):
        cli.download(FakeClient("report.csv"), "0001-abc", str(folder))
    assert outside.read_text() == "untouched"


@pytest.mark.parametrize(
    "failure",
    [
        FileAnswer(status=403),
        requests.exceptions.ConnectionError(f"HTTPSConnectionPool: Max retries exceeded with url: {SAS}"),
        requests.exceptions.ReadTimeout(f"Read timed out. (read timeout=30) {SAS}"),
    ],
)
def test_a_failed_download_never_prints_the_links_signature(
    tmp_path: Path, storage: list[FileAnswer | Exception], failure: FileAnswer | Exception
) -> None:
    storage.append(failure)
    with pytest.raises(cli.CliError) as refused:
        cli.download(FakeClient("f.csv"), "0001-abc", str(tmp_path))
    assert "SECRETSIGNATURE" not in str(refused.value) and "sig=" not in str(refused.value).replace("sig=***", "")
    assert "0001-abc" in str(refused.value)


class ManifestClient(FakeClient):
    """A job whose manifest gives a SHA-256 the downloaded bytes do not have."""

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return {"jobId": "0001-abc", "fileName": "export.csv", "manifest": {"file": {"sha256": "0" * 64}}}


def test_a_download_whose_sha256_is_not_the_manifests_is_deleted_and_reported(
    tmp_path: Path, storage: list[FileAnswer | Exception]
) -> None:
    storage.append(FileAnswer(content=b"a,b\r\n"))
    with pytest.raises(cli.CliError, match="not the manifest's") as raised:
        cli.download(ManifestClient("export.csv"), "0001-abc", str(tmp_path))
    assert raised.value.exit_code == cli.EXIT_SERVER
    assert list(tmp_path.iterdir()) == []
