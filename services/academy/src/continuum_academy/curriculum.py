"""The curriculum: every skill this academy can teach, by name.

Skills come from the ``continuum.academy.skills`` entry-point group (the
shipped ones register there too) and from ``*.yaml`` files in the skills
directory (``CONTINUUM_ACADEMY_SKILLS_DIR``). A broken plugin or file is
reported and skipped; it never takes the academy down.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from pathlib import Path

from continuum_academy.skills import Skill, SkillError
from continuum_academy.skills.yaml_skill import load_yaml_skill

log = logging.getLogger("continuum.academy")


class Curriculum:
    def __init__(self, skills: dict[str, Skill] | None = None) -> None:
        self.skills: dict[str, Skill] = dict(skills or {})
        self.problems: list[str] = []

    @classmethod
    def load(cls, skills_dir: Path | None = None) -> Curriculum:
        curriculum = cls()
        for entry in entry_points(group="continuum.academy.skills"):
            try:
                skill = entry.load()()
                curriculum.add(skill)
            except Exception as exc:  # a plugin's bug must not stop the academy
                curriculum.problems.append(f"skill plugin {entry.name}: {exc}")
        if skills_dir is not None and skills_dir.is_dir():
            for path in sorted(skills_dir.glob("*.y*ml")):
                try:
                    curriculum.add(load_yaml_skill(path))
                except SkillError as exc:
                    curriculum.problems.append(str(exc))
        for problem in curriculum.problems:
            log.warning("academy: %s", problem)
        return curriculum

    def add(self, skill: Skill) -> None:
        if skill.name in self.skills:
            raise SkillError(f"two skills are named {skill.name!r}")
        self.skills[skill.name] = skill

    def get(self, name: str) -> Skill:
        skill = self.skills.get(name)
        if skill is None:
            known = ", ".join(sorted(self.skills)) or "none"
            raise SkillError(f"unknown skill {name!r}; skills: {known}")
        return skill
