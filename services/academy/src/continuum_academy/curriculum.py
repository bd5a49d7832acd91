"""The curriculum: every skill this academy can teach, by name.

Skills come from the ``continuum.academy.skills`` entry-point group (the
shipped ones register there too) and from ``*.yaml`` files in the skills
directory (``CONTINUUM_ACADEMY_SKILLS_DIR``). A broken plugin or file is
reported and skipped; it never takes the academy down.

The skills directory is watched the cheap way: whenever the curriculum is
asked for a skill or the list, it compares the directory's files (names,
sizes, modification times) with what it last read, and re-reads them when
they differ. A user drops a file in and uses it; ``academy skills reload``
does the same on demand and says what changed. A file that no longer loads
keeps nothing of its old version: its skill is gone until it is fixed,
and the reason is in ``problems`` (a half-edited file must not train).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

from continuum_academy.skills import Skill, SkillError
from continuum_academy.skills.yaml_skill import load_yaml_skill, parse_skill_text

log = logging.getLogger("continuum.academy")

Signature = tuple[tuple[str, int, int], ...]


@dataclass
class Reload:
    """What a re-read of the skills directory changed."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class Curriculum:
    def __init__(self, skills: dict[str, Skill] | None = None) -> None:
        self.builtin: dict[str, Skill] = dict(skills or {})
        self.files: dict[str, Skill] = {}
        self.problems: list[str] = []
        self.plugin_problems: list[str] = []
        self.skills_dir: Path | None = None
        self._signature: Signature = ()
        self._sources: dict[str, tuple[str, int, int]] = {}

    @classmethod
    def load(cls, skills_dir: Path | None = None) -> Curriculum:
        curriculum = cls()
        for entry in entry_points(group="continuum.academy.skills"):
            try:
                skill = entry.load()()
                curriculum.add(skill)
            except Exception as exc:  # a plugin's bug must not stop the academy
                curriculum.plugin_problems.append(f"skill plugin {entry.name}: {exc}")
        curriculum.skills_dir = skills_dir
        curriculum.reload()
        return curriculum

    @property
    def skills(self) -> dict[str, Skill]:
        return {**self.builtin, **self.files}

    def add(self, skill: Skill) -> None:
        if skill.name in self.builtin:
            raise SkillError(f"two skills are named {skill.name!r}")
        self.builtin[skill.name] = skill

    def _scan(self) -> Signature:
        if self.skills_dir is None or not self.skills_dir.is_dir():
            return ()
        out = []
        for path in sorted(self.skills_dir.glob("*.y*ml")):
            try:
                stat = path.stat()
            except OSError:
                continue
            out.append((str(path), stat.st_size, stat.st_mtime_ns))
        return tuple(out)

    def refresh(self) -> Reload | None:
        """Re-read the skills directory if its files changed since the last read."""
        if self._scan() == self._signature:
            return None
        return self.reload()

    def reload(self) -> Reload:
        """Re-read every skill file; the result says what was added, changed, removed."""
        signature = self._scan()
        files: dict[str, Skill] = {}
        sources: dict[str, tuple[str, int, int]] = {}
        problems: list[str] = []
        for source in signature:
            path = Path(source[0])
            try:
                skill = load_yaml_skill(path)
            except SkillError as exc:
                problems.append(str(exc))
                continue
            if skill.name in self.builtin or skill.name in files:
                other = sources[skill.name][0] if skill.name in sources else "a shipped skill"
                problems.append(f"{path}: skill {skill.name!r} is already defined by {other}")
                continue
            files[skill.name] = skill
            sources[skill.name] = source
        report = Reload(
            added=sorted(set(files) - set(self.files)),
            changed=sorted(
                n for n in files if n in self._sources and sources[n] != self._sources[n]
            ),
            removed=sorted(set(self.files) - set(files)),
            problems=self.plugin_problems + problems,
        )
        self.files, self._sources, self._signature = files, sources, signature
        self.problems = report.problems
        for problem in problems:
            log.warning("academy: %s", problem)
        if report.added or report.changed or report.removed:
            log.info(
                "academy: skills reloaded: added %s, changed %s, removed %s",
                report.added, report.changed, report.removed,
            )  # fmt: skip
        return report

    def install(self, text: str, where: str) -> tuple[Skill, Reload]:
        """Check a skill file's text and write it into the skills directory as
        ``<name>.yaml`` (replacing that skill's file, never a shipped skill); a
        file with any error is refused whole and nothing is written."""
        if self.skills_dir is None:
            raise SkillError("this academy has no skills directory")
        skill = parse_skill_text(text, where)
        if skill.name in self.builtin:
            raise SkillError(f"{where}: {skill.name!r} is a shipped skill; choose another name")
        self.skills_dir.mkdir(parents=True, exist_ok=True)
        target = self.skills_dir / f"{skill.name}.yaml"
        source = self._sources.get(skill.name)  # the same skill in a file of another name
        if source is not None and source[0] != str(target):
            raise SkillError(
                f"{where}: skill {skill.name!r} is defined by {source[0]}; edit or remove that file"
            )
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(text)
        tmp.replace(target)
        return skill, self.reload()

    def get(self, name: str) -> Skill:
        self.refresh()
        skill = self.skills.get(name)
        if skill is None:
            known = ", ".join(sorted(self.skills)) or "none"
            raise SkillError(f"unknown skill {name!r}; skills: {known}")
        return skill
