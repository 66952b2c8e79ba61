"""SageMaker shadow variants: the configs SageMakerServing switches through, and the stand-in refusing what SageMaker
refuses about ShadowProductionVariants (moto ignores the field; tests/aws_standin.py adds it)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.backends.aws.test_aws_sagemaker_serving import (  # noqa: F401  (fixtures)
    ENDPOINT,
    model_names,
    no_toy_endpoint,
    serving_for,
    variant_for,
)


def endpoint_config(sagemaker, endpoint=ENDPOINT) -> dict:
    name = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    return sagemaker.describe_endpoint_config(EndpointConfigName=name)


def names(variants: list[dict]) -> dict[str, float]:
    return {v["VariantName"]: v.get("InitialVariantWeight", v.get("CurrentWeight")) for v in variants}


def test_the_candidate_shadows_the_champion_then_returns_at_zero(aws_spec, variant_for, aws_standin):
    sagemaker = aws_standin.client("sagemaker")
    serving = serving_for(aws_spec())
    serving.deploy(ENDPOINT, variant_for("v-1"), 100)
    candidate = variant_for("v-2", mean=2.0)
    serving.deploy(ENDPOINT, type(candidate)(**{**candidate.__dict__, "shadow": True}), 0)
    # deployed (and health-checkable) as a production variant: TargetVariant names production variants only
    assert names(endpoint_config(sagemaker)["ProductionVariants"]) == {"v-1": 100.0, "v-2": 0.0}

    serving.start_shadow(ENDPOINT, "v-2")
    config = endpoint_config(sagemaker)
    assert names(config["ProductionVariants"]) == {"v-1": 100.0}
    assert names(config["ShadowProductionVariants"]) == {"v-2": 100.0}  # as the live one: every request mirrored
    described = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert names(described["ShadowProductionVariants"]) == {"v-2": 100.0}
    assert serving.describe(ENDPOINT) == {"v-1": 100.0, "v-2": 0.0}  # no routed traffic
    assert len(sagemaker.list_endpoint_configs(NameContains=ENDPOINT)["EndpointConfigs"]) == 1
    assert len(model_names(sagemaker)) == 2  # the shadow's model is kept with its config

    serving.start_shadow(ENDPOINT, "v-2")  # a retried task: nothing changes
    assert endpoint_config(sagemaker)["EndpointConfigName"] == config["EndpointConfigName"]
    serving.set_weights(ENDPOINT, {"v-1": 100, "v-2": 0})  # names the production variant only
    with pytest.raises(ValueError, match="v-2 is endpoint toy-endpoint's shadow variant"):
        serving.set_weights(ENDPOINT, {"v-1": 90, "v-2": 10})
    with pytest.raises(ValueError, match="allows no second production variant beside a shadow"):
        serving.deploy(ENDPOINT, variant_for("v-3"), 0)

    serving.end_shadow(ENDPOINT, "v-2")
    config = endpoint_config(sagemaker)
    assert names(config["ProductionVariants"]) == {"v-1": 100.0, "v-2": 0.0} and "ShadowProductionVariants" not in config
    assert "ShadowProductionVariants" not in sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    serving.end_shadow(ENDPOINT, "v-2")  # already ended: nothing changes
    serving.set_weights(ENDPOINT, {"v-1": 90, "v-2": 10})  # the rollout's first step, as without a shadow
    assert serving.describe(ENDPOINT) == {"v-1": 90.0, "v-2": 10.0}


def test_a_failed_shadow_is_removed_with_its_model(aws_spec, variant_for, aws_standin):
    sagemaker = aws_standin.client("sagemaker")
    serving = serving_for(aws_spec())
    serving.deploy(ENDPOINT, variant_for("v-1"), 100)
    serving.deploy(ENDPOINT, variant_for("v-2", mean=2.0), 0)
    serving.start_shadow(ENDPOINT, "v-2")
    serving.remove(ENDPOINT, "v-2")
    config = endpoint_config(sagemaker)
    assert names(config["ProductionVariants"]) == {"v-1": 100.0} and "ShadowProductionVariants" not in config
    assert serving.describe(ENDPOINT) == {"v-1": 100.0}
    assert len(model_names(sagemaker)) == 1


def test_start_shadow_refuses_what_sagemaker_cannot_host(aws_spec, variant_for, aws_standin):
    serving = serving_for(aws_spec())
    serving.deploy(ENDPOINT, variant_for("v-1"), 100)
    serving.deploy(ENDPOINT, variant_for("v-2", mean=2.0), 0)
    with pytest.raises(ValueError, match="no production variant v-1 at 0 %"):
        serving.start_shadow(ENDPOINT, "v-1")  # the champion serves traffic
    serving.deploy(ENDPOINT, variant_for("v-3", mean=3.0), 0)
    with pytest.raises(ValueError, match="beside exactly one production variant"):
        serving.start_shadow(ENDPOINT, "v-2")  # v-3 at 0 % would be a second production variant
    assert serving.describe(ENDPOINT) == {"v-1": 100.0, "v-2": 0.0, "v-3": 0.0}  # nothing changed


# -- the stand-in ---------------------------------------------------------------------------------------------


@pytest.fixture
def shadow_models(aws_standin):
    """Three SageMaker models for raw endpoint configs (removed afterwards)."""
    sagemaker = aws_standin.client("sagemaker")
    created = [f"{ENDPOINT}-raw-{i}" for i in range(3)]
    for name in created:
        sagemaker.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
                               PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/i:1"})
    yield created
    for name in created:
        sagemaker.delete_model(ModelName=name)


def variant(name: str, model: str, **settings) -> dict:
    return {"VariantName": name, "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large",
            "InitialVariantWeight": 1.0, **settings}


@pytest.mark.parametrize(("production", "shadows", "refusal"), [
    (["a", "b"], ["c"], "only specify one variant for ProductionVariants and one"),
    (["a"], ["b", "c"], "only specify one variant for ProductionVariants and one"),
    (["a"], ["a"], "unique across ProductionVariants and ShadowProductionVariants"),
    (["a"], ["missing"], "Could not find model"),
    (["a"], ["inf1"], "shadow variants cannot be used with"),
    (["a"], ["serverless"], "shadow variants cannot be used with"),
])
def test_the_standin_refuses_shadow_configs_sagemaker_refuses(aws_standin, shadow_models, production, shadows, refusal):
    models = dict(zip("abc", shadow_models))

    def build(name: str) -> dict:
        if name == "missing":
            return variant("missing", f"{ENDPOINT}-no-such-model")
        if name == "inf1":
            return variant("inf1", models["b"], InstanceType="ml.inf1.xlarge")
        if name == "serverless":
            settings = variant("serverless", models["b"])
            del settings["InstanceType"], settings["InitialInstanceCount"]
            return {**settings, "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 1}}
        return variant(name, models[name])

    sagemaker = aws_standin.client("sagemaker")
    with pytest.raises(ClientError, match=refusal):
        sagemaker.create_endpoint_config(EndpointConfigName=f"{ENDPOINT}-refused", ProductionVariants=[
            build(n) for n in production], ShadowProductionVariants=[build(n) for n in shadows])
    assert not sagemaker.list_endpoint_configs(NameContains=f"{ENDPOINT}-refused")["EndpointConfigs"]


def test_the_standin_keeps_shadows_out_of_weights_and_targeting(aws_standin, shadow_models):
    sagemaker, runtime = aws_standin.client("sagemaker"), aws_standin.client("sagemaker-runtime")
    live, shadow = shadow_models[:2]
    sagemaker.create_endpoint_config(EndpointConfigName=f"{ENDPOINT}-raw", ProductionVariants=[variant("live", live)],
                                     ShadowProductionVariants=[variant("shadow", shadow, InitialInstanceCount=2)])
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"{ENDPOINT}-raw")
    described = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert [(v["VariantName"], v["CurrentWeight"], v["CurrentInstanceCount"])
            for v in described["ShadowProductionVariants"]] == [("shadow", 1.0, 2)]
    assert [v["VariantName"] for v in described["ProductionVariants"]] == ["live"]
    with pytest.raises(ClientError, match='"shadow" is/are not present'):
        sagemaker.update_endpoint_weights_and_capacities(
            EndpointName=ENDPOINT, DesiredWeightsAndCapacities=[{"VariantName": "shadow", "DesiredWeight": 1.0}])
    with pytest.raises(ClientError, match="only production variants can be targeted"):
        runtime.invoke_endpoint(EndpointName=ENDPOINT, TargetVariant="shadow", Body=b"{}",
                                ContentType="application/json")
    runtime.invoke_endpoint(EndpointName=ENDPOINT, TargetVariant="live", Body=b"{}", ContentType="application/json")
    sagemaker.delete_endpoint(EndpointName=ENDPOINT)
    sagemaker.delete_endpoint_config(EndpointConfigName=f"{ENDPOINT}-raw")
