"""Read a YAML spec file into a validated :class:`Spec`, or raise one SpecError with every problem.

The file is read and composed safely (:mod:`probecheck.spec.reading`), then validated by pydantic;
rules across the file (undefined names, duplicate ids) and the files it names (images, masks,
regions that fit them) are checked too, also for the parts that validate while another part does
not. All problems come out together, each at its line and column (:mod:`probecheck.spec.source`),
so a user fixes a file in one pass. Only SpecError leaves this module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from probecheck.errors import SpecError
from probecheck.spec.files import image_problems, region_problems
from probecheck.spec.kinds import CHECK_MODELS
from probecheck.spec.messages import describe
from probecheck.spec.models import (
    Claim,
    Region,
    RuleError,
    Spec,
    claim_checks,
    file_rule_problems,
    landmark_region_names,
)
from probecheck.spec.reading import (
    compose,
    construct,
    duplicate_key_problems,
    read_text,
    tag_problems,
)
from probecheck.spec.sets import expand_sets
from probecheck.spec.source import Loc, SourceMap

__all__ = ["load_spec", "parse_spec"]

DESCRIBED = 200
"""Most of pydantic's errors described for one file; a user fixes the first ones first."""


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Load, validate and normalise the spec file at ``path``; raise SpecError on any problem."""
    path = Path(path)
    shown = str(path)
    return parse_spec(read_text(path, shown), path, shown)


def parse_spec(text: str, path: Path, shown: str) -> Spec:
    """Validate and normalise the spec ``text``, as if read from ``path`` (relative image paths
    are resolved against its directory); problems name ``shown``.

    Claims written in Python come through here too, as YAML text: one set of rules for both.
    """
    root = compose(text, shown)
    source = SourceMap(root, shown)
    problems = duplicate_key_problems(root, source)
    tags = tag_problems(root, source)
    if tags:  # nothing is constructed from a file with tags
        raise SpecError.gather(tags + problems)
    data = construct(root, text, shown)
    if not isinstance(data, dict):
        line, column = source.position(())
        top = SpecError(
            f"the top level must be a mapping, got {_kind(data)}",
            path=shown,
            line=line,
            column=column,
            fix="start the file with keys such as 'images:', 'regions:' and 'claims:'",
        )
        raise SpecError.gather([top, *problems])
    spec, found, uncounted = _validate(data, source, path)
    problems += found
    if spec is None:
        problems += _problems_of_valid_parts(data, source, path.parent)
    else:
        problems += _file_problems(spec, source)
        if not problems:
            problems += expand_sets(spec, source)
    if problems:
        raise SpecError.gather(problems, uncounted=uncounted)
    assert spec is not None
    spec._source = source
    for i, claim in enumerate(spec.claims):
        claim._line = source.position(("claims", i))[0]
    return spec


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, list):
        return "a list"
    return f"'{value}'" if isinstance(value, str) else str(value)


def _errors(rules: list[RuleError], source: SourceMap) -> list[SpecError]:
    return [source.error(rule.loc, rule.message, rule.fix) for rule in rules]


def _validate(
    data: dict[str, Any], source: SourceMap, path: Path
) -> tuple[Spec | None, list[SpecError], int]:
    """The validated Spec, or None, a SpecError for each of pydantic's errors (up to
    DESCRIBED) and the number of errors left undescribed."""
    try:
        return Spec.model_validate(data, context={"path": path}), [], 0
    except ValidationError as exc:
        errors = exc.errors()
        described = describe([dict(err) for err in errors[:DESCRIBED]])
        found = [source.error(loc, message, fix) for loc, message, fix in described]
        return None, found, max(0, len(errors) - DESCRIBED)


def _file_problems(spec: Spec, source: SourceMap) -> list[SpecError]:
    """Images that are missing or not images; regions and masks that do not fit them."""
    problems, sizes = image_problems(spec.images, spec.base_dir)
    checks = claim_checks(list(enumerate(spec.claims)))
    return _errors(problems + region_problems(spec.regions, checks, sizes), source)


def _names(value: Any) -> set[str] | None:
    """The keys of a mapping of names, or None where it is not one (its own error says so)."""
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return set(value)
    return None


def _valid_parts(data: dict[str, Any]) -> tuple[list[tuple[int, Claim]], list[tuple[Loc, Any]]]:
    """The claims that validate on their own, and the checks that do (also of other claims)."""
    claims: list[tuple[int, Claim]] = []
    checks: list[tuple[Loc, Any]] = []
    raw_claims = data.get("claims")
    for i, raw in enumerate(raw_claims if isinstance(raw_claims, list) else []):
        try:
            claims.append((i, Claim.model_validate(raw)))
            continue
        except ValidationError:
            pass  # its errors are reported already; its checks may still be sound
        for name, model in CHECK_MODELS.items():
            if isinstance(raw, dict) and isinstance(raw.get(name), dict):
                try:
                    checks.append((("claims", i, name), model.model_validate(raw[name])))
                except ValidationError:
                    continue
    return claims, claim_checks(claims) + checks


def _valid_regions(raw: Any, base_dir: Path) -> dict[str, Region]:
    """The regions that validate on their own, bound to the spec's directory."""
    regions: dict[str, Region] = {}
    for name, value in raw.items() if isinstance(raw, dict) else ():
        try:
            regions[name] = Region.model_validate(value)
        except ValidationError:
            continue
        regions[name]._base_dir = base_dir
    return regions


def _problems_of_valid_parts(
    data: dict[str, Any], source: SourceMap, base_dir: Path
) -> list[SpecError]:
    """Rules across the file and its files, checked on the parts that validate on their own.

    Pydantic checks the rules across a file only once the whole file validates; a user who
    misspelt one key would otherwise learn of an undefined region only on the next run.
    """
    claims, checks = _valid_parts(data)
    base = data.get("index_base", 0)
    index_base = base if base in (0, 1) and not isinstance(base, bool) else 0
    images, regions = data.get("images"), data.get("regions")
    raw_claims = data.get("claims") if isinstance(data.get("claims"), list) else []
    ids = [(i, c["id"]) for i, c in enumerate(raw_claims) if isinstance(c, dict) and "id" in c]
    ids = [(i, claim_id) for i, claim_id in ids if isinstance(claim_id, str)]
    rules = file_rule_problems(
        claims,
        _names(images),
        _names(regions),
        index_base,
        checks=checks,
        ids=ids,
        sets=_names(data.get("sets")),
        landmark_regions=landmark_region_names(regions),
    )
    if isinstance(images, dict):
        paths = {k: v for k, v in images.items() if isinstance(k, str) and isinstance(v, str) and v}
        found, sizes = image_problems(paths, base_dir)
        rules += found + region_problems(_valid_regions(regions, base_dir), checks, sizes)
    return _errors(rules, source)
