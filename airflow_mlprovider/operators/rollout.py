"""The rollout task: shift traffic to the candidate step by step, deferring between checks, then branch.

execute() starts (or, after a retry, resumes at the step the endpoint shows) and defers to RolloutTrigger;
execute_complete() applies the trigger's decision: advance -> next weight and defer again; complete ->
run finalize; rollback -> candidate to 0 % at once, run rollback. The skipped branch is skipped the way
Airflow's own branch operators do it (BranchMixIn.do_branch), so clearing a task keeps the choice.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException
from airflow.sdk import BranchMixIn

from airflow_mlprovider.notifications.lifecycle import notify
from airflow_mlprovider.operators.base import DEPLOY, FINALIZE, ROLLBACK
from airflow_mlprovider.operators.serving import EndpointOperator, pull, route
from airflow_mlprovider.triggers.rollout import RolloutTrigger

if TYPE_CHECKING:
    from airflow_mlprovider.rollout import RolloutState

#: the trigger's own deadline beyond the rollout timeout: decide() ends a rollout by itself at timeout_s,
#: so this only fires if the trigger stops making progress
TRIGGER_DEADLINE_MARGIN_S = 600.0


class RolloutOperator(EndpointOperator, BranchMixIn):
    """Deferrable, step-by-step traffic shift to the deployed candidate. Returns the final decision."""

    inherits_from_skipmixin = True  # tells the scheduler this task skips its downstream (NotPreviouslySkippedDep)
    ui_color = "#fdf1d6"
    #: the trigger deferred to; a subclass may read traffic from elsewhere
    trigger_class: type[RolloutTrigger] = RolloutTrigger

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_mlprovider.rollout import RolloutPolicy, RolloutState

        deployed = pull(context, DEPLOY)
        candidate, champion = deployed["candidate"], deployed["champion"]
        if champion is None:
            return self._conclude(context, {
                "action": "complete", "weight": 100.0, "stats": {},
                "reason": f"no champion to compare {candidate} with: the first model is finalized at once",
            })
        policy = RolloutPolicy.from_spec(self.model_spec.rollout)
        now = time.time()
        weights = self.serving_backend().describe(self.endpoint)
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
        self._shift(deployed, state.weight)
        notify(self.model_spec, event, f"{candidate} at {state.weight:g} % beside {champion} "
               f"(step {state.step_index + 1} of {len(policy.steps)})")
        self._defer(deployed, state)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        from airflow_mlprovider.rollout import RolloutState

        deployed = pull(context, DEPLOY)
        candidate, action = deployed["candidate"], event["action"]
        if action == "advance":
            self._shift(deployed, event["weight"])
            notify(self.model_spec, "rollout.advance", f"{candidate} -> {event['weight']:g} %: {event['reason']}")
            self._defer(deployed, RolloutState.from_dict(event["state"]))
        if action == "rollback":
            self._shift(deployed, 0.0)  # stop the candidate's traffic now; the rollback task removes it
            notify(self.model_spec, "rollout.rollback", f"{candidate} -> 0 %: {event['reason']}", alert=True)
            return self._conclude(context, event)
        if action == "complete":
            notify(self.model_spec, "rollout.complete", f"{candidate} passed every step: {event['reason']}")
            return self._conclude(context, event)
        raise AirflowException(f"unknown rollout event {action!r} (allowed: advance, complete, rollback)")

    def _shift(self, deployed: dict[str, Any], weight: float) -> None:
        route(self.serving_backend(), self.endpoint,
              {deployed["candidate"]: weight, deployed["champion"]: 100.0 - weight})

    def _defer(self, deployed: dict[str, Any], state: RolloutState) -> None:
        rollout = self.model_spec.rollout
        remaining = max(rollout.timeout_s - (time.time() - state.started_at), 0.0)
        self.defer(
            trigger=self.trigger_class(
                spec=self.spec,
                spec_source=self.spec_source,
                endpoint=self.endpoint,
                champion=deployed["champion"],
                candidate=deployed["candidate"],
                state=state.to_dict(),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=remaining + rollout.check_interval_s + TRIGGER_DEADLINE_MARGIN_S),
        )

    def _conclude(self, context: Any, decision: dict[str, Any]) -> dict[str, Any]:
        """Record the decision (finalize and rollback read it) and skip the branch not taken."""
        outcome = {k: decision[k] for k in ("action", "weight", "reason", "stats")}
        # Pushed first: skipping the other branch ends execution with an exception, before the return.
        context["ti"].xcom_push(key="return_value", value=outcome)
        self.do_branch(context, FINALIZE if decision["action"] == "complete" else ROLLBACK)
        return outcome
