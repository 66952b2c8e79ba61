"""The endpoint table: named endpoints, their loaded variants and weights, weighted routing, fences, persistence.

Weights are non-negative numbers (percent); a variant's share of routed traffic is its weight over the sum
of the endpoint's weights. PUT of a variant sets only that variant's weight; PUT of the weights replaces the
whole routing table: the named variants must exist, each weight is within [0, 100], they sum to 100, and a
variant not named gets 0. No change may take an endpoint that serves traffic to all-zero weights.

Shadows: a variant deployed with `shadow` at weight 0 receives a mirror of every routed request
(serving/mirror.py). Giving it a weight above 0 is an ordinary (fenced) weight change and ends its shadow
role: from then on it serves its share of traffic and is no longer mirrored.

Fences: `fence(e)` starts a new generation of endpoint e (they only grow, and persist in the state file);
a weight change or removal that carries a generation other than the current one is refused with 409, under
the same lock that applies it, so a stale rollout attempt can never change weights once a newer fence exists.
"""

from __future__ import annotations

import logging
import math
import random
import re
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from airflow_mlprovider.serving.errors import ServingError
from airflow_mlprovider.serving.state_file import read_state, write_state
from airflow_mlprovider.serving.variants import LoadedVariant, VariantConfig, load_variant

log = logging.getLogger(__name__)

#: endpoint and variant names: they appear in URLs, metric labels and log lines, never as paths
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_name(kind: str, name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise ServingError(
            400, f"{kind} name {name!r} is not allowed: 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )


class EndpointTable:
    """Thread-safe. Loading an artifact happens outside the lock; swapping it in is atomic."""

    def __init__(self, work_dir: str | Path, state_file: str | Path | None = None, seed: int | None = None) -> None:
        self.work_dir = Path(work_dir)
        self.state_file = Path(state_file) if state_file else None
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._endpoints: dict[str, dict[str, LoadedVariant]] = {}
        self._generations: dict[str, int] = {}  # kept when an endpoint disappears: generations only grow

    # --- reads -------------------------------------------------------------------------------------

    def variants(self, endpoint: str) -> dict[str, LoadedVariant]:
        with self._lock:
            variants = self._endpoints.get(endpoint)
            if variants is None:
                known = ", ".join(sorted(self._endpoints)) or "none"
                raise ServingError(404, f"no endpoint {endpoint!r} (endpoints: {known})")
            return dict(variants)

    def variant(self, endpoint: str, name: str) -> LoadedVariant:
        variants = self.variants(endpoint)
        if name not in variants:
            raise ServingError(404, f"endpoint {endpoint!r} has no variant {name!r} (variants: {', '.join(sorted(variants))})")
        return variants[name]

    def describe(self, endpoint: str) -> dict[str, Any]:
        variants = self.variants(endpoint)
        shares = _traffic_percent({name: v.config.weight for name, v in variants.items()})
        with self._lock:
            generation = self._generations.get(endpoint, 0)
        return {
            "generation": generation,
            "variants": {
                name: {**v.describe(), "traffic_percent": shares[name]} for name, v in sorted(variants.items())
            }
        }

    def endpoint_names(self) -> list[str]:
        with self._lock:
            return sorted(self._endpoints)

    def traffic_percent(self) -> dict[str, dict[str, float]]:
        """endpoint -> variant -> share of routed traffic in percent."""
        with self._lock:
            return {
                endpoint: _traffic_percent({name: v.config.weight for name, v in variants.items()})
                for endpoint, variants in self._endpoints.items()
            }

    def route(self, endpoint: str) -> LoadedVariant:
        """A variant drawn at random in proportion to the weights (503 when every weight is 0)."""
        variants = self.variants(endpoint)
        live = [(name, variants[name]) for name in sorted(variants) if variants[name].config.weight > 0]
        if not live:
            raise ServingError(503, f"endpoint {endpoint!r} has no variant with a weight above 0")
        point = self.draw() * sum(v.config.weight for _, v in live)
        for _, variant in live:
            point -= variant.config.weight
            if point < 0:
                return variant
        return live[-1][1]

    def shadows(self, endpoint: str) -> list[LoadedVariant]:
        """The endpoint's shadow variants (none for an unknown endpoint)."""
        with self._lock:
            variants = self._endpoints.get(endpoint, {})
            return [variants[name] for name in sorted(variants) if variants[name].config.shadow]

    def draw(self) -> float:
        """A uniform number in [0, 1) from the table's (optionally seeded) generator."""
        with self._lock:
            return self._rng.random()

    # --- admin changes -----------------------------------------------------------------------------

    def fence(self, endpoint: str) -> int:
        """Start a new weight generation of `endpoint` and return it (also for an endpoint without variants)."""
        check_name("endpoint", endpoint)
        with self._lock:
            generation = self._generations.get(endpoint, 0) + 1
            self._generations[endpoint] = generation
            self._save()
        log.info("endpoint %s: fenced at generation %d", endpoint, generation)
        return generation

    def put_variant(self, endpoint: str, name: str, config: VariantConfig) -> LoadedVariant:
        """Load (copy, verify, import) and then swap in; a failed load leaves the endpoint as it was."""
        check_name("endpoint", endpoint)
        check_name("variant", name)
        loaded = load_variant(name, config, self.work_dir)
        try:
            with self._lock:
                variants = self._endpoints.get(endpoint, {})
                self._refuse_stopping(endpoint, variants, {**variants, name: loaded}, f"deploying {name!r} at weight 0")
                previous = variants.get(name)
                self._endpoints[endpoint] = {**variants, name: loaded}
                self._save()
        except ServingError:
            loaded.discard()
            raise
        if previous is not None:
            previous.discard()
        log.info("endpoint %s: variant %s serves %s at weight %s", endpoint, name, config.artifact_uri, config.weight)
        return loaded

    def set_weights(self, endpoint: str, weights: Any, generation: int | None = None) -> dict[str, float]:
        if not isinstance(weights, dict) or not weights:
            raise ServingError(400, 'weights must be a JSON object of variant name -> percent, e.g. {"a": 90, "b": 10}')
        with self._lock:
            self._check_generation(endpoint, generation)
            variants = self._endpoints.get(endpoint)
            if variants is None:
                raise ServingError(404, f"no endpoint {endpoint!r}")
            unknown = sorted(set(weights) - set(variants))
            if unknown:
                raise ServingError(400, f"unknown variant(s) {unknown} of endpoint {endpoint!r} (variants: {sorted(variants)})")
            for name, weight in weights.items():
                if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 100:
                    raise ServingError(400, f"weight of {name!r} must be a number within [0, 100], got {weight!r}")
            total = sum(weights.values())
            if not math.isclose(total, 100.0, abs_tol=1e-6):
                raise ServingError(400, f"weights must sum to 100, got {total:g} (variants not named get 0)")
            for name, variant in variants.items():
                weight = float(weights.get(name, 0.0))
                variant.config = replace(variant.config, weight=weight, shadow=variant.config.shadow and weight == 0)
            self._save()
            return {name: variant.config.weight for name, variant in variants.items()}

    def remove(self, endpoint: str, name: str, generation: int | None = None) -> None:
        """Remove a variant (nothing to do when it is absent); an endpoint without variants disappears."""
        with self._lock:
            self._check_generation(endpoint, generation)
            variants = self._endpoints.get(endpoint, {})
            remaining = {n: v for n, v in variants.items() if n != name}
            self._refuse_stopping(endpoint, variants, remaining, f"removing {name!r}")
            removed = variants.get(name)
            if remaining:
                self._endpoints[endpoint] = remaining
            else:
                self._endpoints.pop(endpoint, None)
            if removed is not None:
                self._save()
        if removed is not None:
            removed.discard()

    def _check_generation(self, endpoint: str, generation: int | None) -> None:
        """Called with the lock held: a fenced change must carry the endpoint's current generation."""
        current = self._generations.get(endpoint, 0)
        if generation is not None and generation != current:
            raise ServingError(
                409, f"stale generation {generation} for endpoint {endpoint!r}: the current generation is {current} "
                "(a newer fence was taken, e.g. by a rollback); nothing was changed"
            )

    @staticmethod
    def _refuse_stopping(endpoint: str, before: dict[str, LoadedVariant], after: dict[str, LoadedVariant], what: str) -> None:
        """An endpoint that routes traffic keeps a variant above weight 0 while it has variants at all."""
        serving = any(v.config.weight > 0 for v in before.values())
        if serving and after and not any(v.config.weight > 0 for v in after.values()):
            raise ServingError(
                400, f"{what} would leave every variant of endpoint {endpoint!r} at weight 0 ({', '.join(sorted(after))}): "
                "route traffic to another variant first"
            )

    # --- persistence -------------------------------------------------------------------------------

    def restore(self) -> None:
        """Load every variant of the state file; one that no longer loads is logged and left out."""
        if self.state_file is None:
            return
        restored: dict[str, dict[str, LoadedVariant]] = {}
        state = read_state(self.state_file)
        for endpoint, variants in state["endpoints"].items():
            for name, body in variants.items():
                try:
                    restored.setdefault(endpoint, {})[name] = load_variant(name, VariantConfig.from_body(body), self.work_dir)
                except ServingError as exc:
                    log.error("state file %s: endpoint %s variant %s not restored: %s", self.state_file, endpoint, name, exc.message)
        with self._lock:  # the file is left as it is: the next admin change rewrites it from what is served
            self._endpoints = restored
            self._generations = {endpoint: int(n) for endpoint, n in state.get("generations", {}).items()}

    def close(self) -> None:
        with self._lock:
            loaded = [v for variants in self._endpoints.values() for v in variants.values()]
            self._endpoints.clear()
        for variant in loaded:
            variant.discard()

    def _save(self) -> None:
        """Called with the lock held, so saves are written in the order of the changes."""
        if self.state_file is None:
            return
        state = {
            "endpoints": {
                endpoint: {name: v.config.to_dict() for name, v in variants.items()}
                for endpoint, variants in self._endpoints.items()
            },
            "generations": dict(self._generations),
        }
        write_state(self.state_file, state)


def _traffic_percent(weights: dict[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {name: (100.0 * weight / total if total else 0.0) for name, weight in weights.items()}
