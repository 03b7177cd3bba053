"""The Dockerfile read as Docker reads it, and its build context as `.dockerignore` filters it.

No container engine runs here, so the tests rehearse the build instead: they parse the instructions,
copy what each COPY would copy into a folder that stands for the image's root, and run the build
steps that need no package download in that folder.
"""

from __future__ import annotations

import fnmatch
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    def words(self) -> list[str]:
        return shlex.split(self.arguments)


def parse(dockerfile: Path) -> list[Instruction]:
    """The instructions in order, continuation lines joined, comments and directives dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append(Instruction(keyword.upper(), " ".join(arguments.split())))
        pending = ""
    assert not pending, f"{dockerfile} ends inside a continued line"
    return instructions


def environment(instructions: list[Instruction]) -> dict[str, str]:
    """Every ENV key=value, as the final image has them (later instructions win)."""
    values: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "ENV":
            for word in instruction.words():
                key, separator, value = word.partition("=")
                assert separator, f"ENV {word!r}: write ENV KEY=value"
                values[key] = value
    return values


def ignore_patterns(dockerignore: Path) -> list[str]:
    patterns = [
        line.strip()
        for line in dockerignore.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not [p for p in patterns if p.startswith("!")], (
        "exceptions (!) are not rehearsed; list what to drop"
    )
    return patterns


def is_ignored(relative: PurePosixPath, patterns: list[str]) -> bool:
    """Docker's rule: a pattern matches the path or one of its parent folders; `**` spans folders."""
    candidates = [relative, *relative.parents[:-1]]
    for pattern in patterns:
        for candidate in candidates:
            text = str(candidate)
            if fnmatch.fnmatchcase(text, pattern):
                return True
            if pattern.startswith("**/") and fnmatch.fnmatchcase(candidate.name, pattern[3:]):
                return True
    return False


@dataclass
class Rehearsal:
    """The image's file system under `root`: WORKDIR and COPY applied, RUN steps collected."""

    root: Path
    workdir: PurePosixPath = PurePosixPath("/")

    def image_path(self, path: str) -> Path:
        return self.root / (self.workdir / path).relative_to("/")

    def copy(self, context: Path, sources: list[str], destination: str, patterns: list[str]) -> None:
        target = self.image_path(destination)
        for source in sources:
            origin = context / source
            relative_origin = PurePosixPath(origin.relative_to(context).as_posix())
            assert origin.exists() and not is_ignored(relative_origin, patterns), (
                f"COPY {source}: not in the build context (missing, or excluded by .dockerignore)"
            )
            files = [origin] if origin.is_file() else sorted(p for p in origin.rglob("*") if p.is_file())
            for file in files:
                if is_ignored(PurePosixPath(file.relative_to(context).as_posix()), patterns):
                    continue
                if origin.is_dir():
                    destination_file = target / file.relative_to(origin)
                elif destination.endswith("/") or len(sources) > 1:
                    destination_file = target / file.name
                else:
                    destination_file = target
                destination_file.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, destination_file)


def rehearse(instructions: list[Instruction], context: Path, root: Path) -> tuple[Rehearsal, list[str]]:
    """Apply WORKDIR and COPY to `root`; return the image and the RUN commands in order."""
    patterns = ignore_patterns(context / ".dockerignore")
    image = Rehearsal(root=root)
    runs: list[str] = []
    for instruction in instructions:
        if instruction.keyword == "WORKDIR":
            image.workdir = image.workdir / instruction.arguments
            image.image_path(".").mkdir(parents=True, exist_ok=True)
        elif instruction.keyword == "COPY":
            words = instruction.words()
            assert not [w for w in words if w.startswith("--")], (
                f"COPY {instruction.arguments}: flags not rehearsed"
            )
            image.copy(context, words[:-1], words[-1], patterns)
        elif instruction.keyword == "RUN":
            runs.append(instruction.arguments)
    return image, runs
