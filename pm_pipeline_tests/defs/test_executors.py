"""The executor is chosen by PM_EXECUTOR: multiprocess by default, dagster-celery on request,
with a broker password never baked into the definitions."""

import dagster as dg
import pytest
from dagster._core.definitions.definition_config_schema import (
    ConfiguredDefinitionConfigSchema,
)

from pm_pipeline.config.settings import SettingsError, load_settings
from pm_pipeline.defs.executors import FORKSERVER_PRELOAD, pipeline_executor


def test_multiprocess_is_the_default() -> None:
    executor = pipeline_executor(load_settings({}))
    assert executor.name == "multiprocess"
    assert executor.executor_creation_fn is dg.multiprocess_executor.executor_creation_fn


def test_steps_fork_from_a_server_and_a_run_may_still_set_the_executor() -> None:
    @dg.op
    def step() -> int:
        return 1

    @dg.job(executor_def=pipeline_executor(load_settings({})))
    def retraining() -> None:
        step()

    default = dg.validate_run_config(retraining, {})["execution"]["multiprocess"]
    assert default["start_method"] == {"forkserver": {"preload_modules": FORKSERVER_PRELOAD}}
    chosen = dg.validate_run_config(
        retraining,
        {"execution": {"config": {"max_concurrent": 2, "start_method": {"spawn": {}}}}},
    )["execution"]["multiprocess"]
    assert chosen["max_concurrent"] == 2 and chosen["start_method"] == {"spawn": {}}


def test_celery_takes_the_broker_by_name_and_the_queue_by_value() -> None:
    settings = load_settings(
        {
            "PM_EXECUTOR": "celery",
            "PM_CELERY_BROKER_URL": "pyamqp://pm:s3cret@broker:5672//",
            "PM_CELERY_QUEUE": "plant-7",
        }
    )
    executor = pipeline_executor(settings)
    assert executor.name == "celery"
    schema = executor.config_schema
    assert isinstance(schema, ConfiguredDefinitionConfigSchema)
    config = schema._config_fn({})  # what `configured` baked in
    assert isinstance(config, dict)
    assert config["broker"] == {"env": "PM_CELERY_BROKER_URL"}
    assert config["config_source"] == {"task_default_queue": "plant-7"}
    assert "s3cret" not in repr(config)


def test_an_unknown_executor_is_one_line() -> None:
    with pytest.raises(SettingsError, match=r"^PM_EXECUTOR='k8s': not an executor; write"):
        load_settings({"PM_EXECUTOR": "k8s"})
