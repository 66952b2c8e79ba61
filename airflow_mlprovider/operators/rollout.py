"""The rollout task: shift traffic to the candidate step by step, deferring between checks, then branch.

execute() starts (or, after a retry, resumes at the step the endpoint shows) and defers to RolloutTrigger;
execute_complete() applies the trigger's decision: advance (retreat) -> the next (previous) step's weight and defer
again; complete -> run the finalize task; rollback -> candidate to 0 % at once, run the rollback task. The
branch not taken is skipped the way Airflow's own branch operators do it (BranchMixIn.do_branch), so clearing a
task keeps the choice. Every weight change carries the deploy's fence generation: once finalize or rollback have fenced,
a stale attempt of this task can no longer move traffic. On SageMaker with `deferrable`, a weight change
defers to the endpoint's trigger too; its event brings the decision back to execute_complete, which carries on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BranchMixIn
from airflow.sdk.exceptions import AirflowException

from airflow_mlprovider.operators.base import run_key
from airflow_mlprovider.operators.serving import EndpointOperator, route
from airflow_mlprovider.run_history import RolloutHistory, concluded, new_record, utc_iso, with_point
from airflow_mlprovider.spec.model import Rollout
from airflow_mlprovider.triggers.rollout import RolloutTrigger, policy_kwargs

if TYPE_CHECKING:
    from airflow_mlprovider.rollout import RolloutPolicy, RolloutState

#: the trigger's own deadline beyond the rollout timeout: decide() ends a rollout by itself at timeout_s,
#: so this only fires if the trigger stops making progress
TRIGGER_DEADLINE_MARGIN_S = 600.0


class RolloutOperator(EndpointOperator, BranchMixIn):
    """Deferrable, step-by-step traffic shift from `champion` to `candidate`; branches to one of two tasks.

    :param candidate: the candidate's variant (`deploy.output["candidate"]`); templated.
    :param champion: the champion's variant (`deploy.output["champion"]`); None: no champion, the rollout
        completes at once; templated.
    :param generation: the deploy's fence generation (`deploy.output["generation"]`); templated.
    :param rollout_policy: the rollout policy, as a spec's `rollout` section (steps, check_interval,
        min_requests, max_error_rate_increase, significance, power, step_timeout, timeout, guardrails); keys
        left out take the spec schema's defaults (docs/spec.md).
    :param complete_task_id: the task run when the candidate passed every step (finalize).
    :param rollback_task_id: the task run when it is rolled back.
    :param model: the model's name, in notifications.
    :param registry_uri: the model's root (`<artifact_root>/<model>`): every step is recorded in its
        `rollouts/<run_key>.json` for the Models page (run_history.py); None: not recorded.
    :return: `{"action": "complete"|"rollback", "weight", "reason", "stats"}`.
    """

    template_fields: Sequence[str] = ("candidate", "champion", "generation")
    inherits_from_skipmixin = True  # tells the scheduler this task skips its downstream (NotPreviouslySkippedDep)
    ui_color = "#fdf1d6"
    #: the trigger deferred to; a subclass may read traffic from elsewhere
    trigger_class: type[RolloutTrigger] = RolloutTrigger

    def __init__(
        self, *, candidate: str, champion: str | None, generation: int | None, complete_task_id: str,
        rollback_task_id: str, rollout_policy: dict[str, Any] | None = None, model: str = "",
        registry_uri: str | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.candidate = candidate
        self.champion = champion
        self.generation = generation
        self.rollout_policy = dict(rollout_policy or {})
        self.complete_task_id = complete_task_id
        self.rollback_task_id = rollback_task_id
        self.model = model or self.endpoint
        self.registry_uri = registry_uri

    @property
    def policy(self) -> RolloutPolicy:
        from airflow_mlprovider.rollout import RolloutPolicy

        return RolloutPolicy.from_spec(Rollout.from_dict(self.rollout_policy))

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_mlprovider.rollout import RolloutState

        candidate, champion = self.candidate, self.champion
        if champion is None:
            return self._conclude(context, {
                "action": "complete", "weight": 100.0, "stats": {},
                "reason": f"no champion to compare {candidate} with: the first model is finalized at once",
            })
        policy = self.policy
        now = time.time()
        weights = self.serving.describe(self.endpoint)
        missing = [name for name in (champion, candidate) if name not in weights]
        if missing:
            raise AirflowException(
                f"variant(s) {missing} are not on endpoint {self.endpoint!r} (it has {sorted(weights)}): "
                "the deploy task must run again"
            )
        if weights[candidate] > 0:
            # A retry after a lost worker: continue at the step the endpoint is at, not from the start.
            state, event = RolloutState.resume(policy, weights[candidate], now), "rollout.resume"
        else:
            state, event = RolloutState.start(policy, now), "rollout.start"
        return self.execute_complete(context, {"action": "start", "event": event, "weight": state.weight,
                                               "state": state.to_dict()})

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        from airflow_mlprovider.rollout import RolloutState

        if "change" in event:  # a deferred SageMaker weight change finished: carry on with its decision
            event = self.finish_endpoint_change(event)
        action = event["action"]
        if action == "start":
            state = RolloutState.from_dict(event["state"])
            self._shift(event, state.weight)
            message = (f"{self.candidate} at {state.weight:g} % beside {self.champion} "
                       f"(step {state.step_index + 1} of {len(self.policy.steps)})")
            self.announce(self.model, event["event"], message)
            self._record(context, event["event"].removeprefix("rollout."), state.weight, message, None)
            self._defer(self.policy, state)
        if action == "wait":  # a limit passed under on_timeout: wait; say how long it expects, keep waiting
            self.announce(self.model, "rollout.limit", f"{self.candidate} at {event['weight']:g} %: {event['reason']}",
                          alert=True)
            self._defer(self.policy, RolloutState.from_dict(event["state"]), event["announced"])
        if action in ("advance", "retreat"):  # a new step: its weight, a new window, the evidence carried
            self._shift(event, event["weight"])
            self.announce(self.model, f"rollout.{action}", f"{self.candidate} -> {event['weight']:g} %: {event['reason']}")
            self._record(context, action, event["weight"], event["reason"], event.get("stats"))
            self._defer(self.policy, RolloutState.from_dict(event["state"]), event.get("announced", []))
        if action == "rollback":
            self._shift(event, 0.0)  # stop the candidate's traffic now; the rollback task removes it
            self.announce(self.model, "rollout.rollback", f"{self.candidate} -> 0 %: {event['reason']}", alert=True)
            return self._conclude(context, event)
        if action == "complete":
            self.announce(self.model, "rollout.complete", f"{self.candidate} passed every step: {event['reason']}")
            return self._conclude(context, event)
        raise AirflowException(f"unknown rollout event {action!r} (allowed: advance, retreat, complete, rollback)")

    def _shift(self, event: dict[str, Any], weight: float) -> None:
        """Route `weight` % to the candidate; a SageMaker change under way defers, resuming with `event`."""
        from airflow_mlprovider.backends.base import EndpointChangeStarted

        try:
            route(self.serving, self.endpoint, {self.candidate: weight, self.champion: 100.0 - weight}, self.generation)
        except EndpointChangeStarted as started:
            self.defer_endpoint_change(started, event)

    def _defer(self, policy: RolloutPolicy, state: RolloutState, announced: list[str] | None = None) -> None:
        # on_timeout "wait": decide() keeps waiting for evidence past the limits (the candidate stays at its
        # step, watched), so no deadline may end the rollout for it; otherwise decide() ends it at timeout_s
        deadline = None
        if policy.on_timeout != "wait":
            remaining = max(policy.timeout_s - (time.time() - state.started_at), 0.0)
            deadline = timedelta(seconds=remaining + policy.check_interval_s + TRIGGER_DEADLINE_MARGIN_S)
        self.defer(
            trigger=self.trigger_class(
                endpoint=self.endpoint,
                champion=self.champion,
                candidate=self.candidate,
                state=state.to_dict(),
                policy=policy_kwargs(policy),
                endpoint_conn_id=self.endpoint_conn_id,
                cloudwatch=self.sagemaker is not None,
                aws_conn_id=self.aws_conn_id,
                announced=announced,
            ),
            method_name="execute_complete",
            timeout=deadline,
        )

    def _conclude(self, context: Any, decision: dict[str, Any]) -> dict[str, Any]:
        """Record the decision (finalize and rollback read it) and skip the branch not taken."""
        outcome = {k: decision[k] for k in ("action", "weight", "reason", "stats")}
        self._record(context, decision["action"], decision["weight"], decision["reason"], decision["stats"],
                     final=True)
        # Pushed first: skipping the other branch ends execution with an exception, before the return.
        self.push_result(context, outcome)
        self.do_branch(context, self.complete_task_id if decision["action"] == "complete" else self.rollback_task_id)
        return outcome

    def _record(self, context: Any, action: str, weight: float, reason: str, stats: dict[str, Any] | None, *,
                final: bool = False) -> None:
        """Add this step to the run's rollout record (the Models page's chart). A store that cannot be written
        is logged, never fails the rollout: traffic decisions do not depend on the record."""
        if self.registry_uri is None:
            return
        now = utc_iso(time.time())
        key = run_key(context["run_id"])
        try:
            history = RolloutHistory(self.store(self.registry_uri), self.registry_uri)
            record = history.load(key) or new_record(self.model, context["run_id"], self.candidate, self.champion, now)
            record = with_point(record, at=now, weight=weight, action=action, reason=reason, stats=stats)
            history.save(key, concluded(record, action, now) if final else record)
        except Exception as exc:  # noqa: BLE001 - see the docstring
            self.log.warning("could not record rollout step %s of %s: %s", action, key, exc)
