"""Model cards: what each upstream artifact is, where it comes from and how to verify it.

Cards are TOML files in the repository's `models/` folder (installed as `edgeface.cards`).
Like timm's pretrained configs, each names pinned upstream files (URL + digests) and, for
networks, the pre/post-processing the runtime applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from edgeface.errors import EdgefaceError
from edgeface.hub import package_data


@dataclass(frozen=True)
class Repo:
    alias: str
    repository: str
    raw: str
    commit: str
    license: str


@dataclass(frozen=True)
class UpstreamFile:
    card: str
    key: str
    repo: Repo
    path: str
    size: int  # 0 = unknown (verified by git blob id alone)
    git_blob: str
    sha256: str  # "" = not published
    format: str

    @property
    def url(self) -> str:
        return f"{self.repo.raw}/{self.repo.commit}/{quote(self.path)}"

    @property
    def mirror_relpath(self) -> str:
        """Where the file sits in a local mirror folder: `<repo alias>/<upstream path>`."""
        return f"{self.repo.alias}/{self.path}"

    @property
    def digest_label(self) -> str:
        return f"sha256 {self.sha256}" if self.sha256 else f"git blob {self.git_blob}"


@dataclass(frozen=True)
class Card:
    name: str
    kind: str
    title: str
    summary: str
    license: str
    optional: bool
    needs: tuple
    without: str
    files: tuple
    network: dict = field(default_factory=dict)
    preprocess: dict = field(default_factory=dict)
    postprocess: dict = field(default_factory=dict)
    derived: dict = field(default_factory=dict)
    int8: dict = field(default_factory=dict)

    def file(self, key: str) -> UpstreamFile:
        for f in self.files:
            if f.key == key:
                return f
        raise EdgefaceError(f"model card '{self.name}' has no file '{key}' (it has: {', '.join(f.key for f in self.files)})")


def _read_toml(name: str) -> dict:
    return package_data.read_toml("edgeface.cards", name)


def load_repos() -> dict:
    return {
        alias: Repo(alias=alias, repository=d["repository"], raw=d["raw"], commit=d["commit"], license=d["license"])
        for alias, d in _read_toml("repos.toml").items()
    }


def _parse_card(d: dict, repos: dict) -> Card:
    alias = d["source"]["alias"]
    if repos[alias].commit != d["source"]["commit"]:
        raise EdgefaceError(f"model card '{d['name']}' pins {alias} at {d['source']['commit']}, repos.toml at {repos[alias].commit}")
    files = tuple(
        UpstreamFile(
            card=d["name"],
            key=f["key"],
            repo=repos[f.get("repo", alias)],
            path=f["path"],
            size=int(f.get("size", 0)),
            git_blob=f["git_blob"],
            sha256=f.get("sha256", ""),
            format=f.get("format", "binary"),
        )
        for f in d.get("files", [])
    )
    for f, raw in zip(files, d.get("files", [])):
        if raw.get("url") and raw["url"] != f.url:
            raise EdgefaceError(f"model card '{d['name']}': url of '{f.key}' does not match its repository, commit and path")
    return Card(
        name=d["name"],
        kind=d["kind"],
        title=d["title"],
        summary=d.get("summary", ""),
        license=d["license"],
        optional=bool(d.get("optional", False)),
        needs=tuple(d.get("needs", [])),
        without=d.get("without", ""),
        files=files,
        network=d.get("network", {}),
        preprocess=d.get("preprocess", {}),
        postprocess=d.get("postprocess", {}),
        derived=d.get("derived", {}),
        int8=d.get("int8", {}),
    )


def load_cards() -> dict:
    """All model cards by name, in a stable order."""
    repos = load_repos()
    return package_data.load_named("edgeface.cards", lambda table: _parse_card(table, repos), exclude=("repos.toml",))


def get_card(name: str) -> Card:
    cards = load_cards()
    if name not in cards:
        raise EdgefaceError(f"unknown model or asset '{name}': choose from {', '.join(cards)}")
    return cards[name]
