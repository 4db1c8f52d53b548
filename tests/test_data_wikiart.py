"""WikiArt TFDS builder in both layouts, reading it back (tfds and grain), and the data CLI."""

from __future__ import annotations

import csv
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image

from jaxstyle.cli import main
from jaxstyle.data import (
    BadImageWarning,
    TfdsImageSource,
    build_paired_iterator,
    default_data_config,
)
from jaxstyle.data.wikiart import prepare_wikiart
from jaxstyle.errors import InputError

STYLE_OF = {  # test painting -> style folder
    "composition_vii": "Abstract_Art",
    "udnie": "Abstract_Art",
    "the_scream": "Expressionism",
    "woman-with-hat-matisse": "Fauvism",
    "starry_night": "Post_Impressionism",
    "shipwreck": "Romanticism",
    "wave_crop": "Ukiyo_e",
}
ARTIST_OF = {
    "composition_vii": "wassily-kandinsky",
    "udnie": "francis-picabia",
    "the_scream": "edvard-munch",
    "woman-with-hat-matisse": "henri-matisse",
    "starry_night": "vincent-van-gogh",
    "shipwreck": "william-turner",
    "wave_crop": "hokusai",
}


@pytest.fixture()
def folder_layout(style_paths, tmp_path) -> Path:
    """wikiart/<Style>/<artist>_<title>.jpg from the test paintings, plus bad files."""
    root = tmp_path / "wikiart"
    for p in style_paths:
        d = root / STYLE_OF[p.stem]
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, d / f"{ARTIST_OF[p.stem]}_{p.stem}.jpg")
    (root / "Expressionism" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "Expressionism" / "empty.jpg").write_bytes(b"")
    (root / "Fauvism" / "notes.txt").write_text("not an image")
    # A grayscale PNG: stored re-encoded as RGB JPEG so it decodes to (H, W, 3).
    Image.new("L", (300, 200), 90).save(root / "Fauvism" / "someone_gray-study.png")
    return root


@pytest.fixture()
def kaggle_layout(style_paths, tmp_path) -> Path:
    """Painter-by-Numbers: train/<n>.jpg + train_info.csv (one image missing from the CSV)."""
    root = tmp_path / "pbn"
    (root / "train").mkdir(parents=True)
    rows = []
    for i, p in enumerate(style_paths):
        shutil.copy(p, root / "train" / f"{1000 + i}.jpg")
        if p.stem != "udnie":
            rows.append(
                [
                    f"{1000 + i}.jpg",
                    ARTIST_OF[p.stem],
                    p.stem,
                    STYLE_OF[p.stem],
                    "genre_" + p.stem[:3],
                    "",
                ]
            )
    (root / "train" / "999.jpg").write_bytes(style_paths[0].read_bytes()[:2000])  # truncated
    with open(root / "train_info.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "artist", "title", "style", "genre", "date"])
        w.writerows(rows)
    return root


def _records(data_dir: Path) -> dict[str, dict]:
    import tensorflow_datasets as tfds

    ds = tfds.data_source("wikiart", split="train", data_dir=str(data_dir), download=False)
    out = {}
    for i in range(len(ds)):
        ex = ds[i]
        out[ex["filename"].decode()] = ex
    return out


def test_folder_layout_builds_labels_and_skips(folder_layout, tmp_path):
    data_dir = tmp_path / "tfds"
    with pytest.warns(BadImageWarning) as caught:
        report = prepare_wikiart(folder_layout, data_dir)
    warned = {Path(str(w.message).split(":")[0].split()[-1]).name for w in caught}
    assert warned == {"corrupt.jpg", "empty.jpg", "notes.txt"}
    assert report.layout == "folders" and report.num_records == 8 and report.num_skipped == 3
    assert report.label_counts["style"] == {
        "Abstract_Art": 2,
        "Expressionism": 1,
        "Fauvism": 2,
        "Post_Impressionism": 1,
        "Romanticism": 1,
        "Ukiyo_e": 1,
    }
    assert "genre" not in report.label_counts  # the folder layout has no genres
    assert (Path(report.builder_dir) / "wikiart-train.array_record-00000-of-00001").exists()

    records = _records(data_dir)
    assert len(records) == 8
    scream = records["Expressionism/edvard-munch_the_scream.jpg"]
    assert scream["style"] == b"Expressionism" and scream["artist"] == b"edvard-munch"
    assert scream["image"].dtype == np.uint8 and scream["image"].shape == (1528, 1200, 3)
    gray = records["Fauvism/someone_gray-study.png"]["image"]
    assert gray.shape == (200, 300, 3) and abs(int(gray.mean()) - 90) <= 2

    # Second call reuses the prepared copy and reports the same counts.
    again = prepare_wikiart(folder_layout, data_dir)
    assert again.reused and again.num_records == 8 and again.num_skipped == 3


def test_kaggle_layout_labels_from_csv(kaggle_layout, tmp_path):
    data_dir = tmp_path / "tfds"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadImageWarning)
        report = prepare_wikiart(kaggle_layout, data_dir)
    assert report.layout == "kaggle" and report.num_records == 7 and report.num_skipped == 1
    assert report.skipped[0]["file"] == "train/999.jpg"
    assert report.label_counts["genre"]["genre_the"] == 1
    records = _records(data_dir)
    assert set(records) == {f"train/{1000 + i}.jpg" for i in range(7)}
    starry = next(r for r in records.values() if r["artist"] == b"vincent-van-gogh")
    assert starry["style"] == b"Post_Impressionism" and starry["genre"] == b"genre_sta"
    missing_from_csv = [r for r in records.values() if r["style"] == b""]
    assert len(missing_from_csv) == 1  # udnie: kept, labels unknown


def test_prepared_wikiart_feeds_the_grain_pipeline(folder_layout, content_paths, tmp_path):
    data_dir = tmp_path / "tfds"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadImageWarning)
        prepare_wikiart(folder_layout, data_dir)
    source = TfdsImageSource("wikiart", data_dir=str(data_dir))
    assert len(source) == 8 and isinstance(source[0]["image"], bytes)
    assert "Expressionism/" in "".join(source[i]["name"] for i in range(8))

    cfg = default_data_config()
    cfg.content_dir = str(content_paths[0].parent)
    cfg.style_tfds, cfg.tfds_data_dir = "wikiart", str(data_dir)
    cfg.load_size, cfg.crop_size, cfg.read_threads = 64, 48, 2
    it = build_paired_iterator(cfg, global_batch=4, seed=0)
    batches = [next(it) for _ in range(4)]  # two epochs of the 8 paintings
    for b in batches:
        assert b["style"].shape == (4, 48, 48, 3) and b["style"].dtype == np.float32
        assert 0 <= b["style"].min() and b["style"].max() <= 1
    assert it.data_counts["style"].bad == 0
    it.close()


def test_prepare_missing_or_empty_dir_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        prepare_wikiart(tmp_path / "nope", tmp_path / "tfds")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        prepare_wikiart(tmp_path / "empty", tmp_path / "tfds")
    assert not (tmp_path / "tfds" / "wikiart").exists()


def test_cli_prepare_and_inspect_json(folder_layout, tmp_path, capsys):
    data_dir = tmp_path / "tfds"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadImageWarning)
        assert (
            main(
                [
                    "data",
                    "prepare",
                    "wikiart",
                    "--manual-dir",
                    str(folder_layout),
                    "--data-dir",
                    str(data_dir),
                ]
            )
            == 0
        )
    out = capsys.readouterr().out
    assert "8 records written" in out and "3 files skipped" in out and "corrupt.jpg" in out

    grid = tmp_path / "grid.png"
    assert (
        main(
            [
                "data",
                "inspect",
                "wikiart",
                "--data-dir",
                str(data_dir),
                "--json",
                "--grid",
                str(grid),
            ]
        )
        == 0
    )
    info = json.loads(capsys.readouterr().out)
    assert info["num_records"] == 8 and info["num_skipped"] == 3
    assert info["labels"]["style"]["Abstract_Art"] == 2
    with Image.open(grid) as im:
        assert im.size[0] > 128 and im.size[1] > 128

    assert main(["data", "inspect", str(folder_layout), "--json"]) == 0
    folder = json.loads(capsys.readouterr().out)
    assert folder["kind"] == "folder" and folder["num_records"] == 8 and folder["num_skipped"] == 3
    assert folder["labels"]["folder"]["Fauvism"] == 2
    assert {s["file"] for s in folder["skipped"]} == {
        "Expressionism/corrupt.jpg",
        "Expressionism/empty.jpg",
        "Fauvism/notes.txt",
    }


def test_cli_errors_are_one_line_exit_2(tmp_path, capsys):
    code, _, err = run_cli(["data", "inspect", "no_such_dataset", "--data-dir", str(tmp_path)], capsys)
    assert code == 2 and err.startswith("error: no_such_dataset") and err.count("\n") == 1
    code, _, err = run_cli(["data", "prepare", "wikiart", "--manual-dir", str(tmp_path / "x"), "--data-dir",
                            str(tmp_path)], capsys)
    assert code == 2 and err.count("\n") == 1 and "--manual-dir" in err and "no such file or folder" in err


def test_tfds_source_reads_a_coco_like_dataset_with_config(content_paths, tmp_path):
    """name/config resolution and the "image/filename" feature, as in tfds' coco/2017."""
    import tensorflow_datasets as tfds
    from etils import epath
    from tensorflow_datasets.core import utils as tfds_utils

    class FakeCoco(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.1.0")
        BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="2017")]

        @tfds_utils.classproperty
        @classmethod
        def code_path(cls):  # see jaxstyle.data.wikiart.Wikiart.code_path
            return epath.Path(__file__)

        def _info(self):
            features = {
                "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
                "image/filename": tfds.features.Text(),
                "image/id": tfds.features.Scalar(np.int64),
            }
            return tfds.core.DatasetInfo(
                builder=self, features=tfds.features.FeaturesDict(features)
            )

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            for i, p in enumerate(content_paths):
                yield p.name, {"image": p, "image/filename": p.name, "image/id": i}

    FakeCoco(
        config="2017", data_dir=str(tmp_path), file_format="array_record"
    ).download_and_prepare()
    source = TfdsImageSource("fake_coco/2017", data_dir=str(tmp_path))
    assert len(source) == len(content_paths)
    names = sorted(source[i]["name"].split()[-1] for i in range(len(source)))
    assert names == sorted(p.name for p in content_paths)
    assert source[0]["image"][:2] == b"\xff\xd8"  # still the encoded JPEG

    info_path = next(tmp_path.glob("fake_coco/2017/*/dataset_info.json"))
    info = json.loads(info_path.read_text())
    info["fileFormat"] = "tfrecord"
    info_path.write_text(json.dumps(info))
    with pytest.raises(InputError, match="array_record"):
        TfdsImageSource("fake_coco/2017", data_dir=str(tmp_path))
