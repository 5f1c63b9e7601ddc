"""What each step script of tekton/ runs, given its params and workspaces: the exact
command line, optional flags only when their workspace or param is given, and hostile
values arriving as data (one argument, unchanged) or refused before any program runs."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from registry_sync.cli import main
from support.tekton_files import tekton_documents
from unit.tekton.step_runner import POD_NAMESPACE, run_step

DOCUMENTS = [d for documents in tekton_documents().values() for d in documents]
TASKS = {d["metadata"]["name"]: d["spec"] for d in DOCUMENTS if d["kind"] == "Task"}
(PIPELINE,) = [d for d in DOCUMENTS if d["kind"] == "Pipeline"]
INLINE = {t["name"]: t["taskSpec"] for t in PIPELINE["spec"]["tasks"] if "taskSpec" in t}

RUN = "model-testing-x7k2p"
HOSTILE = "a b'$(touch pwned)`touch pwned`;touch pwned\"\n--registry-url=x"


def _folder(tmp_path: Path, name: str, files: dict[str, str] | None = None) -> Path:
    folder = tmp_path / "workspaces" / name
    folder.mkdir(parents=True)
    for file, text in (files or {}).items():
        (folder / file).parent.mkdir(parents=True, exist_ok=True)
        (folder / file).write_text(text)
    return folder


# -- registry-sync-verify --------------------------------------------------------------


def test_verify_runs_verify_run_on_its_own_run_in_the_pods_namespace(tmp_path: Path) -> None:
    run = run_step(
        TASKS["registry-sync-verify"], tmp_path, params={"pipelinerun-name": RUN}, workspaces={}
    )

    assert run.returncode == 0, run.stderr
    assert run.calls == [
        (
            "registry-sync",
            ["verify-run", "--namespace", POD_NAMESPACE, "--run", RUN,
             "--label-prefix", "modelregistry.opendatahub.io",
             "--param-names", "vllm_model_name,model_name,version_name"],
        )
    ]  # fmt: skip


def test_verify_passes_the_registry_and_its_token_and_ca_when_given(tmp_path: Path) -> None:
    token = _folder(tmp_path, "token", {"token": "t"})
    ca = _folder(tmp_path, "ca", {"service-ca.crt": "c"})

    run = run_step(
        TASKS["registry-sync-verify"],
        tmp_path,
        params={
            "pipelinerun-name": RUN,
            "registry-url": "https://registry.example:8443",
            "ca-file-name": "service-ca.crt",
        },
        workspaces={"registry-token": token, "registry-ca": ca},
    )

    assert run.returncode == 0, run.stderr
    (_, argv), = run.calls  # fmt: skip
    assert argv[argv.index("--registry-url") + 1] == "https://registry.example:8443"
    assert argv[argv.index("--token-file") + 1] == f"{token}/token"
    assert argv[argv.index("--ca-file") + 1] == f"{ca}/service-ca.crt"


def test_verify_hands_a_hostile_value_over_as_one_unchanged_argument(tmp_path: Path) -> None:
    run = run_step(
        TASKS["registry-sync-verify"],
        tmp_path,
        params={"pipelinerun-name": HOSTILE, "registry-url": HOSTILE},
        workspaces={},
    )

    (_, argv), = run.calls  # fmt: skip
    assert argv[argv.index("--run") + 1] == HOSTILE
    assert argv[argv.index("--registry-url") + 1] == HOSTILE
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("code", [1, 2])
@pytest.mark.parametrize("task", ["registry-sync-verify", "registry-sync-publish"])
def test_the_commands_exit_code_is_the_steps(tmp_path: Path, task: str, code: int) -> None:
    params = {"pipelinerun-name": RUN, "registry-url": "https://r", "guidellm-report": "r.json"}
    workspaces = {"results": _folder(tmp_path, "results")}

    run = run_step(TASKS[task], tmp_path, params=params, workspaces=workspaces, exit_code=code)

    assert run.returncode == code
    assert len(run.calls) == 1


# -- registry-sync-publish -------------------------------------------------------------


def test_publish_names_the_result_files_inside_the_results_workspace(tmp_path: Path) -> None:
    results = _folder(tmp_path, "results")

    run = run_step(
        TASKS["registry-sync-publish"],
        tmp_path,
        params={
            "pipelinerun-name": RUN,
            "registry-url": "https://registry.example:8443",
            "guidellm-report": "guidellm/report.json",
            "lm-eval-results": "lm-eval/results.json",
        },
        workspaces={"results": results},
    )

    assert run.returncode == 0, run.stderr
    assert run.calls == [
        (
            "registry-sync",
            ["publish", "--namespace", POD_NAMESPACE, "--run", RUN,
             "--registry-url", "https://registry.example:8443", "--max-input-mib", "512",
             "--label-prefix", "modelregistry.opendatahub.io",
             "--param-names", "vllm_model_name,model_name,version_name",
             "--guidellm", f"{results}/guidellm/report.json",
             "--lm-eval", f"{results}/lm-eval/results.json"],
        )
    ]  # fmt: skip


def test_publish_leaves_out_a_results_file_not_given(tmp_path: Path) -> None:
    results = _folder(tmp_path, "results")

    run = run_step(
        TASKS["registry-sync-publish"],
        tmp_path,
        params={"pipelinerun-name": RUN, "registry-url": "https://r", "lm-eval-results": "r.json"},
        workspaces={"results": results},
    )

    (_, argv), = run.calls  # fmt: skip
    assert "--guidellm" not in argv
    assert argv[argv.index("--lm-eval") + 1] == f"{results}/r.json"


@pytest.mark.parametrize("path", ["/etc/passwd", "..", "../x.json", "a/../../x.json", "a/.."])
def test_publish_refuses_a_results_path_outside_the_workspace(tmp_path: Path, path: str) -> None:
    run = run_step(
        TASKS["registry-sync-publish"],
        tmp_path,
        params={"pipelinerun-name": RUN, "registry-url": "https://r", "guidellm-report": path},
        workspaces={"results": _folder(tmp_path, "results")},
    )

    assert run.returncode == 2
    assert "guidellm-report must be a path inside the results workspace" in run.stderr
    assert run.calls == []


# -- the pipeline's benchmark and evaluation --------------------------------------------

BENCHMARK = {
    "vllm-model-name": "mistral-24b-quantized",
    "target-url": "http://mistral-24b-quantized-predictor.team-a.svc.cluster.local",
    "tokenizer": "mistralai/Mistral-Small-24B-Instruct-2501",
    "image": "guidellm",
    "profile": "kind=constant,rate[0]=1,rate[1]=4",
    "data": "kind=synthetic_text,prompt_tokens=256,output_tokens=128",
    "max-seconds": "60",
}
EVALUATE = {key: BENCHMARK[key] for key in ("vllm-model-name", "target-url", "tokenizer")} | {
    "image": "lm-eval",
    "tasks": "gsm8k",
}


def test_benchmark_runs_guidellm_against_the_served_name(tmp_path: Path) -> None:
    results = _folder(tmp_path, "results")

    run = run_step(INLINE["benchmark"], tmp_path, params=BENCHMARK, workspaces={"results": results})

    assert run.returncode == 0, run.stderr
    assert run.calls == [
        (
            "guidellm",
            ["run",
             "--backend", "kind=openai_http,target=http://mistral-24b-quantized-predictor"
                          ".team-a.svc.cluster.local,model=mistral-24b-quantized",
             "--tokenizer", "kind=huggingface_auto,model=mistralai/Mistral-Small-24B-Instruct-2501",
             "--profile", "kind=constant,rate[0]=1,rate[1]=4",
             "--constraint", "kind=max_duration,seconds=60",
             "--data", "kind=synthetic_text,prompt_tokens=256,output_tokens=128",
             "--output", f"kind=json,path={results}/guidellm/report.json",
             "--output", "kind=console",
             "--disable-console-interactive"],
        )
    ]  # fmt: skip
    assert (results / "guidellm").is_dir()


def test_evaluate_runs_lm_eval_and_keeps_its_results_under_a_fixed_name(tmp_path: Path) -> None:
    results = _folder(tmp_path, "results")

    run = run_step(INLINE["evaluate"], tmp_path, params=EVALUATE, workspaces={"results": results})

    assert run.returncode == 0, run.stderr
    assert run.calls == [
        (
            "lm_eval",
            ["--model", "local-completions",
             "--model_args", "model=mistral-24b-quantized,base_url=http://mistral-24b-quantized"
                             "-predictor.team-a.svc.cluster.local/v1/completions,tokenizer="
                             "mistralai/Mistral-Small-24B-Instruct-2501,tokenizer_backend=huggingface",
             "--tasks", "gsm8k",
             "--output_path", f"{results}/lm-eval/raw"],
        )
    ]  # fmt: skip
    assert json.loads((results / "lm-eval" / "results.json").read_text()) == {"results": {}}


@pytest.mark.parametrize(
    "name",
    [
        HOSTILE,
        "mistral,base_url=http://elsewhere",  # a key of its own in a key=value option
        "mistral: x",  # guidellm reads the option as YAML first
        "mistral #x",
        "",
    ],
)
@pytest.mark.parametrize("task", ["benchmark", "evaluate"])
def test_a_served_name_that_could_add_option_keys_is_refused(
    tmp_path: Path, task: str, name: str
) -> None:
    params = (BENCHMARK if task == "benchmark" else EVALUATE) | {"vllm-model-name": name}

    run = run_step(
        INLINE[task], tmp_path, params=params, workspaces={"results": _folder(tmp_path, "results")}
    )

    assert run.returncode == 2
    assert "vllm_model_name must be letters, digits and ._/:@+- only" in run.stderr
    assert run.calls == []
    assert not (tmp_path / "pwned").exists()


# -- the command lines parse with the real commands ------------------------------------


@pytest.mark.parametrize(
    ("task", "params", "workspaces"),
    [
        ("registry-sync-verify", {"pipelinerun-name": RUN}, ()),
        (
            "registry-sync-verify",
            {"pipelinerun-name": RUN, "registry-url": "https://registry.example:8443"},
            ("registry-token", "registry-ca"),
        ),
        (
            "registry-sync-publish",
            {
                "pipelinerun-name": RUN,
                "registry-url": "https://registry.example:8443",
                "guidellm-report": "guidellm/report.json",
                "lm-eval-results": "lm-eval/results.json",
            },
            ("results", "registry-token", "registry-ca"),
        ),
    ],
    ids=["verify", "verify-with-registry", "publish"],
)
def test_what_a_step_runs_is_a_command_line_the_real_command_accepts(
    tmp_path: Path, task: str, params: dict[str, str], workspaces: tuple[str, ...]
) -> None:
    folders = {name: _folder(tmp_path, name, {"token": "t", "ca.crt": "c"}) for name in workspaces}
    run = run_step(TASKS[task], tmp_path, params=params, workspaces=folders)
    assert run.returncode == 0, run.stderr
    ((program, argv),) = run.calls

    command = main.get_command(click.Context(main), argv[0])
    assert program == "registry-sync" and command is not None
    parsed = command.make_context(argv[0], list(argv[1:]))

    assert parsed.params["run_name"] == RUN
    assert parsed.params["namespace"] == POD_NAMESPACE
