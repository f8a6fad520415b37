"""Summarise `pulumi preview --json` as short Markdown for pull-request reviewers.

    PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true pulumi preview --json --policy-pack policy > preview.json
    python -m tools.preview_summary preview.json >> "$GITHUB_STEP_SUMMARY"

Two input shapes are read (pulumi v3.184, pkg/backend/display/json.go):

* the preview digest that `pulumi preview --json` prints: one object with
  `steps[]` (`op`, `urn`, `oldState`, `newState`, ...), `diagnostics[]`
  (`urn`, `message`, `severity`) and `changeSummary` ({op: count}). The digest
  drops policy events, so on its own it cannot list policy violations;
* engine events, one JSON object per line, as printed with
  PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true or written by `--event-log FILE`
  (a flag shown only with PULUMI_DEBUG_COMMANDS=true): `resourcePreEvent`,
  `resOutputsEvent`, `diagnosticEvent`, `policyEvent`, `summaryEvent`, ...

`--events` adds an event log's policy violations to a digest.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STACK_ROW = "(stack)"
COLUMNS = ("create", "update", "replace", "delete")
# Every step of a replacement counts once, as a replace of that resource.
_COLUMN_OF_OP = {
    "create": "create",
    "update": "update",
    "delete": "delete",
    "replace": "replace",
    "create-replacement": "replace",
    "delete-replaced": "replace",
    "read-replacement": "replace",
    "import-replacement": "replace",
    "import": "import",
}
_DESTRUCTIVE_OPS = {"delete", "replace", "create-replacement", "delete-replaced"}
# Deleting these takes data or a whole API with it, protected or not.
_DANGEROUS_KINDS = {
    "Namespace": "Namespace: deletes everything in it",
    "CustomResourceDefinition": "CRD: deletes every custom resource of its kind",
    "PersistentVolumeClaim": "PVC: its volume may be deleted with it",
}
_LEVEL_ORDER = {"mandatory": 0, "remediate": 1, "advisory": 2}
_LEVEL_ICON = {"mandatory": "❌", "remediate": "🔧", "advisory": "⚠️"}
_EVENT_KEYS = {
    "resourcePreEvent",
    "resOutputsEvent",
    "resOpFailedEvent",
    "diagnosticEvent",
    "policyEvent",
    "policyRemediationEvent",
    "policyLoadEvent",
    "summaryEvent",
    "preludeEvent",
    "stdoutEvent",
    "cancelEvent",
    "progressEvent",
    "startDebuggingEvent",
}
_DIGEST_KEYS = {"steps", "diagnostics", "changeSummary", "config", "duration", "maybeCorrupt"}
# Pulumi's colour directives (<{%fg 1%}>) and ANSI escapes, should either leak through.
_COLOR = re.compile(r"<\{%[^%]*%\}>|\x1b\[[0-9;]*m")
MAX_DIAGNOSTICS = 20
MAX_MESSAGE = 300


class PreviewParseError(ValueError):
    """The input is not preview JSON we understand."""


@dataclass(frozen=True)
class Step:
    op: str
    urn: str
    protect: bool = False
    retain_on_delete: bool = False


@dataclass(frozen=True)
class Diagnostic:
    severity: str
    message: str
    urn: str = ""


@dataclass(frozen=True)
class Violation:
    level: str
    policy: str
    pack: str
    message: str
    urn: str = ""


@dataclass
class Preview:
    steps: list[Step] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    change_summary: dict[str, int] = field(default_factory=dict)
    # False for a bare digest: no violations listed does not mean none found.
    saw_policy_stream: bool = False
    # Policy packs that ran, from an event stream's summary; None when unknown.
    policy_packs: list[str] | None = None


# --- URNs -------------------------------------------------------------------


@dataclass(frozen=True)
class Urn:
    stack: str
    project: str
    types: tuple[str, ...]  # outermost parent first, the resource's own type last
    name: str

    @property
    def type(self) -> str:
        return self.types[-1]


def parse_urn(urn: str) -> Urn:
    """urn:pulumi:<stack>::<project>::<parent types $-joined, own type last>::<name>"""
    parts = urn.removeprefix("urn:pulumi:").split("::", 3)
    if not urn.startswith("urn:pulumi:") or len(parts) != 4:
        return Urn("", "", (urn,), urn)
    stack, project, qualified, name = parts
    return Urn(stack, project, tuple(qualified.split("$")), name)


def component_of(urn: str) -> str:
    """The nearest of our components (type package == project) along the
    URN's type chain, the resource itself included; else the stack."""
    parsed = parse_urn(urn)
    for type_ in reversed(parsed.types):
        if parsed.project and type_.split(":", 1)[0] == parsed.project:
            return type_
    return STACK_ROW


# --- parsing ----------------------------------------------------------------


def _clean(text: Any) -> str:
    return _COLOR.sub("", str(text or "")).strip()


def _require_steps(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise PreviewParseError("'steps' is not a list")
    for i, step in enumerate(raw):
        if not isinstance(step, dict) or not isinstance(step.get("op"), str) or not isinstance(step.get("urn"), str):
            raise PreviewParseError(f"steps[{i}] has no string 'op' and 'urn'")
    return raw


def _step(op: str, urn: str, old_state: dict[str, Any] | None) -> Step:
    old = old_state or {}
    return Step(op, urn, bool(old.get("protect")), bool(old.get("retainOnDelete")))


def parse_digest(doc: dict[str, Any]) -> Preview:
    preview = Preview()
    for raw in _require_steps(doc.get("steps")):
        preview.steps.append(_step(raw["op"], raw["urn"], raw.get("oldState")))
    for diag in doc.get("diagnostics") or []:
        # The digest folds the "error: " prefix into the message.
        preview.diagnostics.append(
            Diagnostic(str(diag.get("severity", "")), _clean(diag.get("message")), diag.get("urn", ""))
        )
    preview.change_summary = {str(k): int(v) for k, v in (doc.get("changeSummary") or {}).items()}
    return preview


def parse_events(events: Iterable[dict[str, Any]]) -> Preview:
    preview = Preview(saw_policy_stream=True)
    steps: dict[str, Step] = {}
    order: list[str] = []
    for event in events:
        if pre := event.get("resourcePreEvent"):
            meta = pre.get("metadata") or {}
            if _internal(meta):
                continue
            step = _step(str(meta.get("op")), str(meta.get("urn")), meta.get("old"))
            key = f"{step.urn}\0{step.op}"
            if key not in steps:
                order.append(key)
            steps[key] = step
        elif out := event.get("resOutputsEvent"):
            # As in the digest: a refresh that found drift is reported as the update/delete it implies.
            meta = out.get("metadata") or {}
            key = f"{meta.get('urn')}\0refresh"
            if key in steps and meta.get("op") in ("update", "delete"):
                steps[key] = Step(meta["op"], steps[key].urn, steps[key].protect, steps[key].retain_on_delete)
        elif diag := event.get("diagnosticEvent"):
            if diag.get("ephemeral") or diag.get("severity") == "debug":
                continue
            message = _clean(diag.get("prefix", "")) + " " + _clean(diag.get("message"))
            preview.diagnostics.append(Diagnostic(str(diag.get("severity", "")), message.strip(), diag.get("urn", "")))
        elif policy := event.get("policyEvent"):
            preview.violations.append(
                Violation(
                    level=str(policy.get("enforcementLevel", "")),
                    policy=str(policy.get("policyName", "")),
                    pack=str(policy.get("policyPackName", "")),
                    message=_clean(policy.get("message")),
                    urn=str(policy.get("resourceUrn", "")),
                )
            )
        elif summary := event.get("summaryEvent"):
            preview.change_summary = {str(k): int(v) for k, v in (summary.get("resourceChanges") or {}).items()}
            # Keys look like "<pack>|local|<path>"; the JSON name really is PascalCase.
            preview.policy_packs = sorted({k.split("|", 1)[0] for k in summary.get("PolicyPacks") or {}})
    preview.steps = [steps[key] for key in order]
    return preview


def _internal(meta: dict[str, Any]) -> bool:
    # The engine hides default-provider steps and pending-replace clean-ups
    # from every display; an event log still carries them.
    urn = parse_urn(str(meta.get("urn", "")))
    default_provider = urn.type.startswith("pulumi:providers:") and urn.name.startswith("default")
    return default_provider or meta.get("op") == "remove-pending-replace"


def _event_lines(text: str) -> list[dict[str, Any]]:
    events = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as err:
            raise PreviewParseError(f"line {number} is not JSON ({err.msg})") from None
        if not isinstance(event, dict):
            raise PreviewParseError(f"line {number} is not a JSON object")
        events.append(event)
    return events


def _is_event(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(_EVENT_KEYS & obj.keys())


def parse(text: str) -> Preview:
    """A digest, a single event, an event batch ({"events": [...]}) or event lines."""
    if not text.strip():
        raise PreviewParseError("the input is empty")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc = _event_lines(text)
        if not all(_is_event(e) for e in doc):
            raise PreviewParseError("it has several JSON values that are not Pulumi engine events") from None
    try:
        return _parse_json(doc)
    except PreviewParseError:
        raise
    except (AttributeError, TypeError, ValueError) as err:
        # Right syntax, wrong shape (a string where an object belongs, ...).
        raise PreviewParseError(f"unexpected structure ({type(err).__name__}: {err})") from None


def _parse_json(doc: Any) -> Preview:
    if isinstance(doc, list) and all(_is_event(e) for e in doc):
        return parse_events(doc)
    if isinstance(doc, dict) and isinstance(doc.get("events"), list):
        return parse_events(doc["events"])
    if _is_event(doc):
        return parse_events([doc])
    if isinstance(doc, dict) and _DIGEST_KEYS & doc.keys():
        return parse_digest(doc)
    raise PreviewParseError("it is JSON but neither a preview digest nor engine events")


def load(source: str) -> Preview:
    """Parse a file, or stdin for "-"; errors name the source."""
    label = "stdin" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        return parse(text)
    except OSError as err:
        raise PreviewParseError(f"{label}: {err.strerror or err}") from None
    except (UnicodeDecodeError, PreviewParseError) as err:
        raise PreviewParseError(f"{label}: {err}") from None


# --- rendering --------------------------------------------------------------


def count_by_component(steps: Iterable[Step]) -> dict[str, Counter[str]]:
    seen: set[tuple[str, str]] = set()
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for step in steps:
        column = _COLUMN_OF_OP.get(step.op)
        if column is None or (step.urn, column) in seen:
            continue
        seen.add((step.urn, column))
        table[component_of(step.urn)][column] += 1
    return dict(table)


@dataclass(frozen=True)
class Danger:
    op: str
    urn: str
    reasons: tuple[str, ...]


def dangerous_deletes(steps: Iterable[Step]) -> list[Danger]:
    found: dict[str, Danger] = {}
    for step in steps:
        if step.op not in _DESTRUCTIVE_OPS:
            continue
        urn = parse_urn(step.urn)
        reasons = []
        package, _, kind = urn.type.rpartition(":")
        if package.startswith("kubernetes:") and kind in _DANGEROUS_KINDS:
            reasons.append(_DANGEROUS_KINDS[kind])
        if step.protect:
            reasons.append("protect: true (the engine refuses until it is unprotected)")
        if reasons and step.retain_on_delete:
            reasons.append("retainOnDelete: the object itself is kept")
        if reasons:
            op = "replace" if step.op != "delete" else "delete"
            previous = found.get(step.urn)
            merged = tuple(dict.fromkeys((*(previous.reasons if previous else ()), *reasons)))
            found[step.urn] = Danger(op, step.urn, merged)
    return list(found.values())


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text}`" if "`" not in text else _cell(text)


def _short(text: str, limit: int = MAX_MESSAGE) -> str:
    flat = " — ".join(line.strip() for line in text.splitlines() if line.strip())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _resource(urn: str) -> str:
    if not urn:
        return "(stack)"
    parsed = parse_urn(urn)
    return f"{_code(parsed.name)} ({_code(parsed.type)})"


def _table(preview: Preview) -> list[str]:
    counts = count_by_component(preview.steps)
    columns = [*COLUMNS, *(["import"] if any(c["import"] for c in counts.values()) else [])]
    if not counts:
        return ["No resource changes."]
    rows = sorted(counts, key=lambda name: (name != STACK_ROW, name))
    lines = [
        "| Component | " + " | ".join(c.capitalize() for c in columns) + " |",
        "| --- | " + " | ".join("---:" for _ in columns) + " |",
    ]
    for name in rows:
        label = name if name == STACK_ROW else _code(name)
        lines.append(f"| {label} | " + " | ".join(str(counts[name][c]) for c in columns) + " |")
    totals = [sum(counts[name][c] for name in rows) for c in columns]
    lines.append("| **Total** | " + " | ".join(f"**{t}**" for t in totals) + " |")
    return lines


def _headline(preview: Preview) -> str:
    counts = count_by_component(preview.steps)
    totals = {c: sum(row[c] for row in counts.values()) for c in (*COLUMNS, "import")}
    parts = [f"{totals[c]} to {c}" for c in (*COLUMNS, "import") if totals[c]]
    unchanged = preview.change_summary.get("same")
    if unchanged:
        parts.append(f"{unchanged} unchanged")
    return "**" + (" · ".join(parts) or "no changes") + "**"


def _danger_section(preview: Preview) -> list[str]:
    dangers = dangerous_deletes(preview.steps)
    if not dangers:
        return []
    lines = [
        f"### 🚨 Deletes of protected objects ({len(dangers)})",
        "",
        "> [!CAUTION]",
        "> This preview deletes or replaces objects that hold data or whole APIs. Check each one is intended.",
        "",
        "| Op | Resource | Component | Why it matters |",
        "| --- | --- | --- | --- |",
    ]
    for danger in dangers:
        component = component_of(danger.urn)
        label = component if component == STACK_ROW else _code(component)
        lines.append(f"| **{danger.op}** | {_resource(danger.urn)} | {label} | {_cell('; '.join(danger.reasons))} |")
    return [*lines, ""]


def _policy_section(preview: Preview) -> list[str]:
    violations = sorted(
        dict.fromkeys(preview.violations), key=lambda v: (_LEVEL_ORDER.get(v.level, len(_LEVEL_ORDER)), v.policy)
    )
    levels = Counter(v.level for v in violations)
    title = "### Policy violations"
    if violations:
        title += " (" + ", ".join(f"{n} {level}" for level, n in sorted(levels.items(), key=_level_key)) + ")"
    lines = [title, ""]
    if violations:
        lines += ["| Level | Policy | Resource | Message |", "| --- | --- | --- | --- |"]
        for v in violations:
            icon = _LEVEL_ICON.get(v.level, "")
            level = f"**{v.level}**" if v.level == "mandatory" else v.level
            policy = _code(f"{v.pack}/{v.policy}" if v.pack else v.policy)
            lines.append(f"| {icon} {level} | {policy} | {_resource(v.urn)} | {_cell(_short(v.message))} |")
    elif preview.policy_packs == []:
        lines.append("No policy pack ran in this preview.")
    elif preview.saw_policy_stream:
        packs = f" ({', '.join(preview.policy_packs)})" if preview.policy_packs else ""
        lines.append(f"No policy violations{packs}.")
    else:
        note = (
            "_Not shown: the `pulumi preview --json` digest leaves policy events out. Summarise the event "
            "stream instead (`PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true pulumi preview --json`) or pass an "
            "`--event-log` file with `--events`."
        )
        if any(d.severity == "error" for d in preview.diagnostics):
            note += " The preview failed; a mandatory violation is one possible cause."
        lines.append(note + "_")
    return [*lines, ""]


def _level_key(item: tuple[str, int]) -> int:
    return _LEVEL_ORDER.get(item[0], len(_LEVEL_ORDER))


def _diagnostics_section(preview: Preview) -> list[str]:
    shown = [d for d in preview.diagnostics if d.severity in ("error", "warning")]
    if not shown:
        return []
    shown.sort(key=lambda d: d.severity != "error")
    lines = ["### Errors and warnings", ""]
    for diag in shown[:MAX_DIAGNOSTICS]:
        where = f" {_resource(diag.urn)}:" if diag.urn else ""
        # Both input shapes start the text with "<severity>: "; the bold label already says it.
        message = diag.message.removeprefix(f"{diag.severity}: ")
        lines.append(f"- **{diag.severity}**{where} {_cell(_short(message))}")
    if len(shown) > MAX_DIAGNOSTICS:
        lines.append(f"- … and {len(shown) - MAX_DIAGNOSTICS} more")
    return [*lines, ""]


def render(preview: Preview, title: str | None = None) -> str:
    if title is None:
        stacks = {parse_urn(s.urn).stack for s in preview.steps} - {""}
        title = "Pulumi preview" + (f": `{stacks.pop()}`" if len(stacks) == 1 else "")
    lines = [f"## {title}", "", _headline(preview), "", *_table(preview), ""]
    lines += _danger_section(preview)
    lines += _policy_section(preview)
    lines += _diagnostics_section(preview)
    return "\n".join(lines).rstrip() + "\n"


# --- CLI --------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.preview_summary", description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", default="-", help="`pulumi preview --json` output (default: stdin)")
    parser.add_argument("--events", help="an --event-log file, for policy violations the digest leaves out")
    parser.add_argument("--title", help="heading (default: 'Pulumi preview: <stack>')")
    args = parser.parse_args(argv)

    try:
        preview = load(args.input)
        if args.events:
            extra = load(args.events)
            preview.violations += extra.violations
            preview.saw_policy_stream = preview.saw_policy_stream or extra.saw_policy_stream
    except PreviewParseError as err:
        print(f"error: cannot parse pulumi preview JSON: {err}", file=sys.stderr)
        return 2
    sys.stdout.write(render(preview, args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
