"""Asset library stages on real images and real models: EfficientNet-Lite0, MiniLM, RapidOCR, hashes, indexes,
type rules, auto-matching, CLIP ONNX backend."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from refbench.errors import ModelUnavailableError, OptionError, UnknownBackendError
from refbench.library import create_image_embedder, create_text_embedder
from refbench.library.asset_types import gather_evidence, guess_type
from refbench.library.automatch import AutoMatcher
from refbench.library.evaluation import make_variant, precision_at_k, scene_is_right, sweep
from refbench.library.hashes import NearDuplicateRule, hamming, hash_bits, perceptual_hashes
from refbench.library.images import as_rgb, load_rgba
from refbench.library.index import ExactIndex, HnswIndex, build_index
from refbench.library.keywords import KeywordIndex, words
from refbench.library.ocr import create_ocr_reader
from refbench.types import Asset, AssetSet

from tests.conftest import MODELS, SAMPLES

LIBRARY = SAMPLES / "library"


def rgb(path: Path) -> np.ndarray:
    return as_rgb(load_rgba(path))


@pytest.fixture(scope="module")
def effnet():
    return create_image_embedder("efficientnet-lite0", model_dir=MODELS)


@pytest.fixture(scope="module")
def minilm():
    return create_text_embedder("minilm-l6", model_dir=MODELS)


@pytest.fixture(scope="module")
def ocr():
    return create_ocr_reader()


# --- EfficientNet-Lite0: the weights are right (ImageNet top-5), features are unit vectors -------------------

# photo, crop box (xyxy; None = whole photo), words of which one must name a top-5 class
TOP5 = [
    ("dog.jpg", None, ("German shepherd", "malamute", "Siberian husky", "Eskimo dog")),
    ("bus.jpg", None, ("minibus", "trolleybus", "school bus", "passenger car")),
    ("horses.jpg", (0, 177, 172, 305), ("sorrel",)),  # ImageNet's horse; the whole photo reads as oxen
    ("coffee.png", None, ("espresso",)),
]


@pytest.mark.parametrize(("photo", "box", "expected"), TOP5, ids=[t[0] for t in TOP5])
def test_efficientnet_top5_names_what_the_photo_shows(effnet, samples_dir, photo, box, expected) -> None:
    image = rgb(samples_dir / photo)
    if box is not None:
        image = image[box[1] : box[3], box[0] : box[2]]
    top5 = [c.label for c in effnet.classify([image])[0]]
    assert set(top5) & set(expected), top5


def test_efficientnet_features_are_unit_vectors_and_similar_for_similar_images(effnet, samples_dir) -> None:
    obama = [rgb(samples_dir / f"obama_{i}.jpg") for i in (1, 2)]
    features = effnet.embed_images([*obama, rgb(samples_dir / "giraffe.jpg")])
    assert features.shape == (3, 1280) and features.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)
    assert features[0] @ features[1] > features[0] @ features[2] + 0.2
    assert effnet.embed_images([]).shape == (0, 1280)


def test_minilm_ranks_meaning_not_letters(minilm) -> None:
    vectors = minilm.embed_texts(["a dog", "a puppy playing in the grass", "a red double-decker bus"])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > 0.5 > 0.25 > vectors[0] @ vectors[2]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: create_image_embedder("clip-vit-l", model_dir=MODELS), UnknownBackendError, "efficientnet-lite0"),
        (lambda: create_image_embedder("clip-onnx", model_dir=MODELS), UnknownBackendError, "needs --embedder-model"),
        (lambda: create_image_embedder("efficientnet-lite0", model_dir=Path("/nope")), ModelUnavailableError, "pull"),
        (lambda: create_text_embedder("minilm-l6", model_dir=Path("/nope")), ModelUnavailableError, "models pull"),
        (
            lambda: create_image_embedder("open-clip", model_dir=MODELS, model_path=Path("/no/ViT-B-32")),
            ModelUnavailableError,
            "open_clip_config.json",
        ),
    ],
    ids=["unknown", "clip-without-path", "no-efficientnet", "no-minilm", "open-clip-no-folder"],
)
def test_embedder_errors_say_what_to_do(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call()


# --- OCR ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "text"),
    [(LIBRARY / "matplotlib_logo.png", "matpl"), (SAMPLES / "photos" / "bus.jpg", "emisiones")],
    ids=["logo", "bus-side"],
)
def test_ocr_reads_brand_names_and_signs(ocr, path: Path, text: str) -> None:
    lines = ocr.read(rgb(path))
    assert any(text in str(t).lower() for t in lines.data["text"]), list(lines.data["text"])
    assert lines.data["quad"].shape == (len(lines), 4, 2) and np.all(lines.confidence >= 0.5)
    height, width = rgb(path).shape[:2]
    assert lines.xyxy.min() >= -2 and lines.xyxy[:, 2].max() <= width + 2 and lines.xyxy[:, 3].max() <= height + 2


def test_ocr_finds_nothing_on_a_blank_image(ocr) -> None:
    lines = ocr.read(np.full((200, 300, 3), 255, np.uint8))
    assert len(lines) == 0 and lines.data["text"].shape == (0,)


# --- near-duplicates ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["half_size", "jpeg_q50", "colour_shift"])
def test_a_variant_is_a_near_duplicate_and_another_photo_is_not(effnet, samples_dir, variant) -> None:
    original, other = rgb(samples_dir / "obama_1.jpg"), rgb(samples_dir / "obama_2.jpg")
    copy = make_variant(original, variant)
    bits = hash_bits([perceptual_hashes(im).phash for im in (original, other, copy)])
    rule = NearDuplicateRule()
    found = rule.find(bits, effnet.embed_images([original, other, copy]), new=[2])
    assert {(d.index, d.of, d.method) for d in found} == {(2, 0, "phash"), (2, 0, "visual")}  # obama_1, not _2
    assert hamming(bits[0], bits[1:2])[0] > rule.max_phash_bits  # same man, another photo: distinct


def test_near_duplicate_rule_checks_its_thresholds() -> None:
    with pytest.raises(OptionError, match="max_phash_bits"):
        NearDuplicateRule(max_phash_bits=70)
    with pytest.raises(OptionError, match="min_cosine"):
        NearDuplicateRule(min_cosine=1.5)


# --- indexes and keywords -------------------------------------------------------------------------------------


def test_exact_index_equals_numpy_and_hnsw_finds_the_same_neighbours() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    query = vectors[7] + 0.05 * rng.normal(size=64).astype(np.float32)
    truth = np.argsort(-(vectors @ query))[:50]
    scores, ids = ExactIndex(vectors).search(query, k=50)
    assert ids.tolist() == truth.tolist() and np.all(np.diff(scores) <= 0)
    _, approx = HnswIndex(vectors).search(query, k=10)
    assert len(set(approx.tolist()) & set(truth[:10].tolist())) >= 9
    allowed = np.zeros(3000, bool)
    allowed[100:110] = True  # a rare type: HNSW falls back to exact search over its rows
    assert set(HnswIndex(vectors).search(query, k=5, allowed=allowed)[1]) <= set(range(100, 110))
    assert build_index(vectors, crossover=1000).kind == "hnsw" and build_index(vectors).kind == "exact"


def test_keywords_tokenise_documents_and_queries_alike() -> None:
    assert words("The Horses and a BUS") == ["horse", "bus"]
    index = KeywordIndex(["two horses in a field", "a city bus", "matplotlib logo"])
    scores = index.scores("horse")
    assert scores.argmax() == 0 and scores[1] == 0
    assert not index.scores("zebra").any() and index.matched("red bus", "a city bus") == ["bus"]


# --- asset types --------------------------------------------------------------------------------------------

TYPES = [
    (LIBRARY / "python_logo.png", "logo"),
    (LIBRARY / "brick.png", "texture"),
    (LIBRARY / "gift_box.png", "product"),
    (LIBRARY / "grace_hopper.jpg", "person"),
    (SAMPLES / "photos" / "kite.jpg", "environment"),
    (LIBRARY / "motorcycle.png", "prop"),
]


@pytest.mark.parametrize(("path", "expected"), TYPES, ids=[t[1] for t in TYPES])
def test_type_rules_on_labelled_assets(effnet, ocr, backends, path: Path, expected: str) -> None:
    image = load_rgba(path)
    classes = tuple(effnet.classify([as_rgb(image)])[0])
    guess = guess_type(gather_evidence(image, embedder=effnet, faces=backends.faces, ocr=ocr, classes=classes))
    assert guess.asset_type == expected, guess.reason


def test_transparent_png_keeps_its_alpha() -> None:
    image = load_rgba(LIBRARY / "python_logo.png")
    assert image.shape[2] == 4 and (image[:, :, 3] == 0).mean() > 0.2
    assert as_rgb(image)[0, 0].tolist() == [255, 255, 255]  # transparent corner composited on white
    assert load_rgba(SAMPLES / "photos" / "bus.jpg").shape[2] == 3


# --- auto-matching ------------------------------------------------------------------------------------------


def asset(tag: str, kind: str, name: str, *, class_name: str | None = None, quality: float = 0.5) -> Asset:
    asset_id = f"declared-{tag}" if kind in ("logo", "product") else tag
    return Asset(asset_id, tag, kind, name, Path(f"{tag}.jpg"), "img", quality=quality, class_name=class_name)


LIBRARY_SET = AssetSet(
    {
        a.tag: a
        for a in (
            asset("CHAR_01", "character", "Barack Obama"),
            asset("CHAR_02", "character", "Joe Biden"),
            asset("CHAR_03", "character", "character 03"),
            asset("VEH_01", "vehicle", "bus", class_name="bus"),
            asset("ANIM_01", "animal", "dog", class_name="dog", quality=0.4),
            asset("ANIM_02", "animal", "dog", class_name="dog", quality=0.9),
            asset("LOGO_01", "logo", "python logo"),
            asset("PROD_01", "product", "blue face mask"),
            asset("PROD_02", "product", "white face mask"),
        )
    }
)
AUTO = [
    ("Barack Obama steps off the bus", [("CHAR_01", "subject"), ("VEH_01", "interaction_target")]),
    ("Biden pets two dogs", [("CHAR_02", "subject"), ("ANIM_02", "interaction_target")]),  # best dog, plural
    ("The python logo on a screen", [("LOGO_01", "subject")]),
    ("Obama puts on a face mask", [("CHAR_01", "subject"), ("PROD_01", "interaction_target")]),
    ("CHAR_03 waves", [("CHAR_03", "subject")]),  # an uncurated character only by its tag
    ("An empty street at night", []),
]


@pytest.mark.parametrize(("prompt", "expected"), AUTO, ids=[a[0] for a in AUTO])
def test_auto_matching_finds_names_objects_and_tags(prompt: str, expected: list) -> None:
    placements = AutoMatcher().match(prompt, assets=LIBRARY_SET)
    assert sorted((p.tag, p.role) for p in placements) == sorted(expected)
    assert all(0 < p.confidence <= 1 and p.reason for p in placements)


def test_auto_matching_never_exceeds_the_free_slots_and_honours_unpins() -> None:
    prompt = "Barack Obama and Joe Biden ride the bus with a dog and the python logo"
    placements = AutoMatcher(max_refs=3).match(prompt, assets=LIBRARY_SET, exclude={"CHAR_02"}, slots=2)
    assert len(placements) == 2 and "CHAR_02" not in {p.tag for p in placements}
    assert placements[0].tag == "CHAR_01"  # names before object words


# --- evaluation helpers -------------------------------------------------------------------------------------


def test_evaluation_measures() -> None:
    assert precision_at_k(["a", "x", "b"], {"a", "b"}, k=5) == 1.0
    assert precision_at_k(["x", "y", "z", "w", "v", "a"], {"a"}, k=5) == 0.0
    assert scene_is_right(["A", "B"], [{"A"}, {"B", "C"}]) and not scene_is_right(["A", "B", "D"], [{"A"}, {"B"}])
    assert scene_is_right([], []) and not scene_is_right(["A"], [])
    result = sweep(
        np.array([0.99, 0.95, 0.90]), np.array([True, True, False]), np.array([0.9, 0.95]), higher_is_closer=True
    )
    assert result.precision.tolist() == [2 / 3, 1.0] and result.best_at_full_precision() == 1


# --- CLIP ONNX backend: the real loading code, on towers built here (no CLIP weights can be had offline) -------


def build_tiny_clip(folder: Path) -> Path:
    """A CLIP-shaped pair of towers (random weights) exported to ONNX, with MiniLM's tokenizer."""
    import torch

    class ImageTower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 16, 8, stride=8)
            self.proj = torch.nn.Linear(16, 32)

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            return self.proj(self.conv(pixel_values).mean(dim=(2, 3)))

    class TextTower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(30522, 32)

        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            return self.embed(input_ids).mean(dim=1)

    folder.mkdir(parents=True)
    torch.manual_seed(0)
    for tower, name, dummy in (
        (ImageTower(), "image", torch.zeros(1, 3, 64, 64)),
        (TextTower(), "text", torch.ones(1, 16, dtype=torch.long)),
    ):
        torch.onnx.export(
            tower.eval(),
            (dummy,),
            str(folder / f"{name}.onnx"),
            input_names=["pixel_values" if name == "image" else "input_ids"],
            output_names=["embeds"],
            dynamic_axes={"pixel_values" if name == "image" else "input_ids": {0: "n"}, "embeds": {0: "n"}},
            dynamo=False,
        )
    (folder / "tokenizer.json").write_bytes((MODELS / "minilm" / "tokenizer.json").read_bytes())
    (folder / "clip.json").write_text(json.dumps({"name": "tiny-clip", "image_size": 64, "context_length": 16}))
    return folder


def test_clip_onnx_backend_embeds_images_and_texts_into_one_space(tmp_path: Path, samples_dir: Path) -> None:
    clip = create_image_embedder("clip-onnx", model_dir=MODELS, model_path=build_tiny_clip(tmp_path / "clip"))
    images = clip.embed_images([rgb(samples_dir / "dog.jpg"), rgb(samples_dir / "bus.jpg")])
    texts = clip.embed_texts(["a dog", "a bus", ""])
    assert clip.name == "tiny-clip" and images.shape == (2, 32) and texts.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(np.concatenate([images, texts]), axis=1), 1.0, atol=1e-5)
    assert not np.allclose(texts[0], texts[1])
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        create_image_embedder("clip-onnx", model_dir=MODELS, model_path=tmp_path / "missing")


def test_derived_models_are_built_once_and_again_when_their_inputs_change(tmp_path: Path) -> None:
    from refbench.provision.weights import DerivedFile, derive_models

    built = []

    def build(model_dir: Path) -> None:
        built.append(model_dir)
        (model_dir / "out.onnx").write_bytes(b"onnx")

    item = DerivedFile("out.onnx", ("efficientnet/efficientnet-lite0-57934424.pth",), build, "test")
    assert derive_models(tmp_path, derived=(item,)) == [tmp_path / "out.onnx"]
    derive_models(tmp_path, derived=(item,))
    assert len(built) == 1  # the stamp matches: nothing to do
    (tmp_path / "out.onnx.source").write_text("made from something else\n")
    derive_models(tmp_path, derived=(item,))
    assert len(built) == 2
