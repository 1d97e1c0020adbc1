"""Which tool calls need the user's consent, and the yolo budget.

Rules come from each tool's `approval` predicate (`Approval.NO`, `ASK`,
`ALWAYS_ASK`). This policy adds the session's choices on top: "always allow
<tool>", yolo mode, and a USD cap under yolo. A costed call is estimated and
reserved before it runs, released if it fails and reconciled with its real
cost when it finishes; a call whose cost cannot be estimated asks (fails
closed). Once observed spend reaches the cap, yolo stops auto-approving.

Spend pauses hold with or without yolo: once the session's spend (inference
plus jobs) reaches `spend_pause_usd`, the turn pauses before its next model
call with an approval showing the spend; after the user answers, the next
pause is at the first doubling of the threshold above the spend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..tools.base import Approval, ToolSpec

__all__ = ["ApprovalPolicy", "Decision"]


@dataclass(frozen=True)
class Decision:
    needs_approval: bool
    reason: str | None = None
    estimated_cost_usd: float | None = None


@dataclass
class ApprovalPolicy:
    yolo: bool = False
    budget_usd: float | None = None
    always_allow: set[str] = field(default_factory=set)
    spent_usd: float = 0.0
    reservations: dict[str, float] = field(default_factory=dict)
    # The session spend at which the next spend pause happens (None: never).
    spend_pause_usd: float | None = None

    def spend_pause_due(self, session_spend_usd: float) -> float | None:
        """The threshold the session's spend has reached, if a pause is due."""
        threshold = self.spend_pause_usd
        if threshold is None or threshold <= 0 or session_spend_usd < threshold:
            return None
        return threshold

    def next_spend_pause(self, session_spend_usd: float) -> float | None:
        """The threshold after the current one: doubled until above the spend."""
        threshold = self.spend_pause_usd
        if threshold is None or threshold <= 0:
            return None
        while threshold <= session_spend_usd:
            threshold *= 2
        return threshold

    def acknowledge_spend(self, session_spend_usd: float) -> None:
        """The user answered a spend pause: move the threshold past the spend."""
        self.spend_pause_usd = self.next_spend_pause(session_spend_usd)

    @property
    def reserved_usd(self) -> float:
        return sum(self.reservations.values())

    @property
    def budget_exhausted(self) -> bool:
        return self.budget_usd is not None and self.spent_usd >= self.budget_usd

    def decide(self, spec: ToolSpec, args: dict[str, Any], tool_call_id: str) -> Decision:
        rule = spec.approval(args)
        estimate = self._estimate(spec, args)
        if rule is Approval.NO:
            return Decision(False, estimated_cost_usd=estimate)
        if rule is Approval.ALWAYS_ASK:
            return Decision(True, "This operation always needs your approval.", estimate)
        if not self.yolo:
            if spec.name in self.always_allow and spec.estimate_cost is None:
                return Decision(False)
            return Decision(True, None, estimate)
        if self.budget_usd is None:
            return Decision(False, estimated_cost_usd=estimate)
        if self.budget_exhausted:
            return Decision(
                True,
                f"The yolo budget of ${self.budget_usd:.2f} is spent (${self.spent_usd:.2f}).",
                estimate,
            )
        if spec.estimate_cost is not None and estimate is None:
            return Decision(True, "Its cost cannot be estimated, so yolo asks first.", None)
        cost = estimate or 0.0
        committed = self.spent_usd + self.reserved_usd
        if committed + cost > self.budget_usd:
            return Decision(
                True,
                f"Estimated ${cost:.2f} would exceed the yolo budget "
                f"(${committed:.2f} of ${self.budget_usd:.2f} committed).",
                estimate,
            )
        if cost:
            self.reservations[tool_call_id] = cost
        return Decision(False, estimated_cost_usd=estimate)

    def settle(self, tool_call_id: str, *, success: bool, actual_usd: float | None) -> None:
        """A call finished: release its reservation and count what it really spent."""
        reserved = self.reservations.pop(tool_call_id, 0.0)
        if actual_usd is not None:
            self.spent_usd += actual_usd
        elif success:
            self.spent_usd += reserved

    def add_spend(self, usd: float | None) -> None:
        if usd:
            self.spent_usd += usd

    @staticmethod
    def _estimate(spec: ToolSpec, args: dict[str, Any]) -> float | None:
        if spec.estimate_cost is None:
            return None
        try:
            return spec.estimate_cost(args)
        except Exception:
            return None  # an estimator bug must not approve anything: unknown cost asks
