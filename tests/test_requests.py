"""Veo 3.1 pre-flight checks (each passing and refusing with its message), image chains, and the real
google-genai SDK submitting to and polling a loopback fake of the Veo long-running operation."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from PIL import Image
from refbench.clean.generative import ReplayGenerator
from refbench.credentials import API_KEY_VARIABLES, SECRETS_FILE_VARIABLE
from refbench.errors import ApiKeyMissing, ConfigError, GenerationError, RequestValidationError
from refbench.fakes.veo import FAKE_MP4, FakeVeo
from refbench.generation.chain import build_image_chain, run_image_chain
from refbench.generation.images import ImageInput
from refbench.generation.submit import submit_veo
from refbench.generation.veo import (
    CHECKS,
    RequestImage,
    VeoRequest,
    build_veo_request,
    ensure_valid,
    load_request_image,
    to_sdk,
    validate_veo_request,
)
from refbench.google_api import GoogleApiSettings, RetryPolicy, make_client
from refbench.select.scenes import SceneSpec
from refbench.select.selection import select_references
from refbench.settings import PROJECT_ROOT
from refbench.types import Asset, AssetSet

PHOTOS = PROJECT_ROOT / "data" / "samples" / "photos"
REF = load_request_image(PHOTOS / "china.jpg", tag="ENV_03")
BIG = RequestImage("image/jpeg", (2000, 1500), image_bytes=b"\xff" * 10, tag="BIG")


def veo(**changes: object) -> VeoRequest:
    """A valid Gemini-API request with one reference, changed as asked (config keys merged)."""
    config = {
        "duration_seconds": 8,
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "person_generation": "allow_adult",
        "number_of_videos": 1,
        **changes.pop("config", {}),
    }
    base = VeoRequest(
        scene_id="s",
        model="veo-3.1-generate-preview",
        mode="gemini",
        prompt="A street at dusk",
        config=config,
        reference_images=[REF],
    )
    return dataclasses.replace(base, **changes)


def failed(request: VeoRequest, **options: int) -> dict[str, str]:
    return {c.name: c.message for c in validate_veo_request(request, **options) if not c.ok}


# check name, request that passes it, request that fails it, message of the failure
CASES = [
    ("mode_known", veo(mode="vertex"), veo(mode="studio"), "mode 'studio' is not one of gemini, vertex"),
    (
        "references_max_three",
        veo(reference_images=[REF] * 3),
        veo(reference_images=[REF] * 4),
        "4 reference images given; Veo 3.1 takes at most 3",
    ),
    (
        "references_asset_only",
        veo(),
        veo(reference_images=[dataclasses.replace(REF, reference_type="STYLE")]),
        r"reference type \['STYLE'\] not allowed: Veo 3.1 accepts only ASSET references",
    ),
    (
        "references_need_veo_3_1",
        veo(model="veo-3.1-fast-generate-preview"),
        veo(model="veo-3.0-generate-001"),
        "model 'veo-3.0-generate-001' does not take reference images",
    ),
    (
        "prompt_required",
        veo(prompt=None, reference_images=[], first_frame=REF),
        veo(prompt="  "),
        "a text prompt is required when reference images are given",
    ),
    (
        "references_exclusive_with_frames",
        veo(reference_images=[], first_frame=REF, last_frame=REF),
        veo(first_frame=REF),
        "reference images cannot be combined with first frame .*hybrid",
    ),
    (
        "last_frame_needs_first_frame",
        veo(reference_images=[], first_frame=REF, last_frame=REF),
        veo(reference_images=[], last_frame=REF),
        "last_frame needs a first frame",
    ),
    (
        "duration_allowed",
        veo(reference_images=[], config={"duration_seconds": 6, "person_generation": "allow_all"}),
        veo(config={"duration_seconds": 5}),
        "duration 5 s is not one of 4, 6, 8",
    ),
    (
        "duration_8_with_references",
        veo(),
        veo(config={"duration_seconds": 4}),
        r"duration must be 8 s with reference images \(got 4 s\)",
    ),
    (
        "duration_8_at_high_resolution",
        veo(config={"resolution": "1080p"}),
        veo(reference_images=[], config={"resolution": "4k", "duration_seconds": 6, "person_generation": "allow_all"}),
        r"duration must be 8 s at 4k \(got 6 s\)",
    ),
    (
        "number_of_videos_for_mode",
        veo(mode="vertex", config={"number_of_videos": 4}),
        veo(config={"number_of_videos": 2}),
        r"number_of_videos 2: gemini mode takes at most 1 per request",
    ),
    (
        "aspect_ratio_supported",
        veo(config={"aspect_ratio": "9:16"}),
        veo(config={"aspect_ratio": "1:1"}),
        "aspect ratio '1:1' is not one of 16:9, 9:16",
    ),
    (
        "resolution_supported",
        veo(config={"resolution": "4k"}),
        veo(config={"resolution": "480p"}),
        "resolution '480p' is not one of 720p, 1080p, 4k",
    ),
    (
        "config_fields_known",
        veo(config={"negative_prompt": "blur"}),
        veo(config={"colour": "red"}),
        r"unknown config fields \['colour'\]",
    ),
    (
        "vertex_only_fields",
        veo(mode="vertex", config={"seed": 7, "generate_audio": True}),
        veo(config={"seed": 7, "fps": 24, "output_gcs_uri": "gs://b/o"}),
        "seed, fps, output_gcs_uri exist only on Vertex AI; the Gemini API refuses them",
    ),
    (
        "person_generation_for_mode",
        veo(reference_images=[], config={"person_generation": "allow_all"}),
        veo(config={"person_generation": "allow_all"}),
        "person_generation must be 'allow_adult' when images go in .* got 'allow_all'",
    ),
    ("reference_image_size", veo(), veo(reference_images=[BIG]), "larger than 1024 px .*BIG: 2000x1500"),
    (
        "image_source",
        veo(reference_images=[dataclasses.replace(REF, image_bytes=None, gcs_uri="gs://b/r.jpg")]),
        veo(reference_images=[dataclasses.replace(REF, gcs_uri="gs://b/r.jpg")]),
        "each image needs exactly one of inline bytes or gcs_uri",
    ),
    (
        "inline_payload_budget",
        veo(reference_images=[REF] * 3),
        veo(reference_images=[REF] * 3),
        r"MiB base64, over the 0.1 MiB budget: upload them to Cloud Storage and pass gcs_uri",
    ),
    ("sdk_types", veo(), veo(config={"number_of_videos": "many"}), "google-genai types refuse the request"),
]


def test_every_check_has_a_case() -> None:
    assert sorted(c[0] for c in CASES) == sorted(CHECKS)


@pytest.mark.parametrize("name, good, bad, message", CASES, ids=[c[0] for c in CASES])
def test_check_passes_and_refuses(name: str, good: VeoRequest, bad: VeoRequest, message: str) -> None:
    budget = {"max_inline_bytes": 100_000} if name == "inline_payload_budget" else {}
    assert name not in failed(good), failed(good)
    problems = failed(bad, **budget)
    assert name in problems
    assert __import__("re").search(message, problems[name]), problems[name]


def test_person_generation_values_per_mode() -> None:
    assert "person_generation_for_mode" in failed(veo(config={"person_generation": "everyone"}))
    text_only = veo(reference_images=[], config={"person_generation": "allow_adult"})
    assert failed(text_only) == {
        "person_generation_for_mode": "text-to-video on the Gemini API takes person_generation 'allow_all', got "
        "'allow_adult'"
    }
    assert not failed(dataclasses.replace(text_only, mode="vertex"))


def test_ensure_valid_lists_every_failure() -> None:
    with pytest.raises(RequestValidationError) as caught:
        ensure_valid(veo(first_frame=REF, config={"duration_seconds": 6, "seed": 1}))
    assert [c.name for c in caught.value.failures] == [
        "references_exclusive_with_frames",
        "duration_8_with_references",
        "vertex_only_fields",
    ]
    assert str(caught.value).startswith("scene 's': request refused before sending (3 check(s) failed)")
    assert len(ensure_valid(veo())) == len(CHECKS)


def test_to_sdk_builds_google_genai_types() -> None:
    source, config = to_sdk(veo(first_frame=None, config={"negative_prompt": "blur"}))
    assert source.prompt == "A street at dusk" and source.image is None
    assert config.duration_seconds == 8 and config.negative_prompt == "blur"
    (reference,) = config.reference_images
    assert reference.reference_type.value == "ASSET" and reference.image.image_bytes == REF.image_bytes


def scene(**fields: object) -> SceneSpec:
    return SceneSpec(
        **{
            "scene_id": "s1",
            "prompt": "A leader walks to the rocket.",
            "shot_type": "wide",
            "placements": [{"asset_tag": "CHAR_01", "role": "subject"}, {"asset_tag": "ENV_01", "role": "background"}],
            **fields,
        }
    )


REGISTRY = AssetSet(
    {
        "CHAR_01": Asset(
            asset_id="a1",
            tag="CHAR_01",
            asset_type="character",
            name="character 01",
            crop_path=PHOTOS / "obama_3.jpg",
            source_image_id="obama_3",
            visual_description="Short grey hair, navy suit",
            full_body_path=PHOTOS / "obama_3.jpg",
        ),
        "ENV_01": Asset(
            asset_id="e1",
            tag="ENV_01",
            asset_type="environment",
            name="rocket",
            crop_path=PHOTOS / "rocket.png",
            source_image_id="rocket",
        ),
    }
)


def test_builder_resizes_and_forces_the_veo_31_rules() -> None:
    selection = select_references(scene(), REGISTRY)
    request = build_veo_request(scene(), selection, descriptions={"CHAR_01": "Short grey hair, navy suit"})
    assert [max(r.size_wh) for r in request.reference_images] == [1024, 640]  # 1434x2333 shrunk, 640x427 kept
    assert request.config["duration_seconds"] == 8 and request.config["person_generation"] == "allow_adult"
    assert request.prompt.startswith("A leader walks to the rocket.\n\nKeep these subjects exactly")
    assert "- CHAR_01: Short grey hair, navy suit" in request.prompt
    assert not failed(request)
    as_json = json.loads(json.dumps(request.to_json()))
    assert as_json["config"]["reference_images"][0]["image"]["image_bytes"]["n_bytes"] > 0


def test_builder_keeps_the_hybrid_for_the_checks_to_refuse() -> None:
    hybrid = scene(first_frame=PHOTOS / "rocket.png", duration_seconds=6)
    request = build_veo_request(hybrid, select_references(hybrid, REGISTRY))
    assert set(failed(request)) == {"references_exclusive_with_frames", "duration_8_with_references"}


def test_image_chain_feeds_each_output_to_the_next_scene(tmp_path: Path) -> None:
    scenes = [scene(), scene(scene_id="s2", prompt="The leader waves from the stairs.")]
    steps = build_image_chain(scenes, REGISTRY, first_reference=PHOTOS / "obama_1.jpg")
    assert (steps[0].reference_path, steps[1].reference_from) == (PHOTOS / "obama_1.jpg", "s1")
    assert "- CHAR_01: Short grey hair, navy suit\n- ENV_01: rocket" in steps[1].prompt  # name when no description
    contents = steps[0].request(ImageInput(__import__("numpy").zeros((4, 4, 3), dtype="uint8"), "ref")).contents()
    assert isinstance(contents[0], str) and isinstance(contents[1], Image.Image)  # prompt first
    generator = ReplayGenerator([PHOTOS / "astronaut.png", PHOTOS / "giraffe.jpg"])
    chain = run_image_chain(steps, generator, out_dir=tmp_path)
    assert list(chain.outputs.values()) == [tmp_path / "s1-1.png", tmp_path / "s2-1.png"] and chain.status == "ok"
    # The user's reference (obama_1, 910x1137, fitted to 1024 px), then output 1 (the astronaut, 512 px).
    assert [shape for _, shape in generator.received] == [(1024, 820, 3), (512, 512, 3)]
    with pytest.raises(ConfigError, match="does not exist"):
        build_image_chain(scenes, REGISTRY, first_reference=tmp_path / "missing.png")


@pytest.fixture
def fake():
    with FakeVeo(pending_polls=2) as server:
        yield server


def vertex_request() -> VeoRequest:
    return veo(mode="vertex", config={"seed": 3})


def test_sdk_submits_and_polls_the_fake(fake: FakeVeo, tmp_path: Path) -> None:
    client = make_client(mode="vertex", api_key="test-key-123", settings=GoogleApiSettings(base_url=fake.url))
    result = submit_veo(client, vertex_request(), out_dir=tmp_path, poll_interval_s=0.01)
    assert result.polls == 3 and len(result.outputs) == 1
    assert result.outputs[0].read_bytes() == FAKE_MP4 and result.outputs[0].parent == tmp_path
    submit, *polls = fake.requests
    assert submit.path == "/v1beta1/publishers/google/models/veo-3.1-generate-preview:predictLongRunning"
    assert all(r.path.endswith(":fetchPredictOperation") for r in polls) and len(polls) == 3
    assert {r.api_key for r in fake.requests} == {"test-key-123"}
    instance, parameters = submit.body["instances"][0], submit.body["parameters"]
    assert instance["prompt"] == "A street at dusk"
    assert instance["referenceImages"][0]["referenceType"] == "ASSET"
    assert parameters["durationSeconds"] == 8 and parameters["seed"] == 3
    assert parameters["personGeneration"] == "allow_adult"
    again = submit_veo(client, vertex_request(), out_dir=tmp_path, poll_interval_s=0.01)
    assert again.outputs[0] != result.outputs[0]  # outputs are new files


FAST_RETRIES = RetryPolicy(max_attempts=3, deadline_s=10, initial_backoff_s=0.01, max_backoff_s=0.05)


def test_transient_errors_are_retried(tmp_path: Path) -> None:
    with FakeVeo(pending_polls=0, fail_submit=503, fail_submit_times=2) as server:
        client = make_client(mode="vertex", api_key="test-key-123", settings=GoogleApiSettings(base_url=server.url))
        result = submit_veo(client, vertex_request(), out_dir=tmp_path, poll_interval_s=0.01, policy=FAST_RETRIES)
    assert len(result.outputs) == 1 and len(server.requests) == 4  # 2 refused submits, 1 submit, 1 poll


@pytest.mark.parametrize(
    "fake_options, submit_options, match",
    [
        ({"fail_submit": 400}, {}, "API error 400"),
        ({"fail_submit": 503, "fail_submit_times": 9}, {}, r"gave up after 3 attempt\(s\) .*: 503"),
        ({"fail_operation": "content filtered"}, {}, "failed: .*content filtered"),
        ({"pending_polls": 50}, {"max_polls": 2}, "not done after 2 polls"),
    ],
)
def test_service_failures_are_reported(fake_options: dict, submit_options: dict, match: str, tmp_path: Path) -> None:
    with FakeVeo(**fake_options) as server:
        client = make_client(mode="vertex", api_key="test-key-123", settings=GoogleApiSettings(base_url=server.url))
        with pytest.raises(GenerationError, match=match):
            submit_veo(
                client, vertex_request(), out_dir=tmp_path, poll_interval_s=0.01, policy=FAST_RETRIES, **submit_options
            )
    refused = [r for r in server.requests if r.path.endswith(":predictLongRunning")]
    assert len(refused) <= FAST_RETRIES.max_attempts  # bounded in attempts


def test_invalid_request_never_leaves_the_machine(fake: FakeVeo, tmp_path: Path) -> None:
    client = make_client(mode="vertex", api_key="test-key-123", settings=GoogleApiSettings(base_url=fake.url))
    with pytest.raises(RequestValidationError, match="references_exclusive_with_frames"):
        submit_veo(client, veo(mode="vertex", first_frame=REF), out_dir=tmp_path)
    with pytest.raises(ConfigError, match="only in Vertex mode"):
        submit_veo(
            make_client(mode="gemini", api_key="test-key-123", settings=GoogleApiSettings(base_url=fake.url)),
            veo(),
            out_dir=tmp_path,
        )
    assert fake.requests == []


def test_no_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for variable in API_KEY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    secrets = tmp_path / "secrets.env"  # absent: the user's own secrets file must not answer
    monkeypatch.setenv(SECRETS_FILE_VARIABLE, str(secrets))
    with pytest.raises(ApiKeyMissing) as error:
        make_client(mode="vertex")
    assert str(error.value) == (
        f"no Gemini API key: set GOOGLE_API_KEY or GEMINI_API_KEY in the environment or in {secrets}"
        " (outside the repository)"
    )
