"""floatsim.studies.corpus: the standard library's source as a deterministic dataset."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from floatsim.studies import corpus


def test_reads_the_stdlib_and_splits_by_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "lib"
    (root / "pkg").mkdir(parents=True)
    (root / "test").mkdir()
    texts = {f"m{i}.py": f"x = {i}\n" * 400 for i in range(30)}
    texts["pkg/é.py"] = "s = 'é'\n" * 200
    for name, text in texts.items():
        (root / name).write_text(text, encoding="utf-8")
    (root / "test" / "skip.py").write_text("never read\n")
    (root / "notes.txt").write_text("not python\n")
    monkeypatch.setenv("FLOATSIM_CACHE", str(tmp_path / "cache"))
    c = corpus.load(root=root)
    rel = sorted(texts)
    val = [r for r in rel if zlib.crc32(r.encode()) % 10 == 0]
    assert val, "the fixture needs a validation file"
    want_val = "".join(texts[r] + "\n\n" for r in val).replace("é", "?")
    assert c.decode(c.val) == want_val
    want_train = "".join(texts[r] + "\n\n" for r in rel if r not in val).replace("é", "?")
    assert c.decode(c.train) == want_train
    assert list((tmp_path / "cache").glob("corpus-*.npz"))           # cached
    again = corpus.load(root=root)
    assert np.array_equal(again.train, c.train) and again.fingerprint == c.fingerprint


def test_the_real_corpus_and_batches() -> None:
    c = corpus.load(max_chars=100_000)
    assert c.train.size == 90_000 and c.val.size == 10_000 and c.vocab_size == 97
    assert c.train.dtype == np.uint8 and int(c.train.max()) < 97
    assert "def " in c.decode(c.train[:20_000])
    x1, y1 = c.batch("train", 4, 32, np.random.default_rng(5))
    x2, _ = c.batch("train", 4, 32, np.random.default_rng(5))
    assert np.array_equal(x1, x2) and x1.dtype == np.int64
    assert np.array_equal(x1[:, 1:], y1[:, :-1])


def test_bad_arguments(tmp_path) -> None:
    with pytest.raises(ValueError, match="max_chars=5 must be an int >= 10000"):
        corpus.load(max_chars=5)
    with pytest.raises(ValueError, match="is not a directory"):
        corpus.load(root=tmp_path / "missing")
    c = corpus.load(max_chars=20_000)
    with pytest.raises(ValueError, match="split='test' is not valid"):
        c.batch("test", 1, 8, np.random.default_rng(0))
    with pytest.raises(ValueError, match="seq_len=5000"):
        c.batch("val", 1, 5000, np.random.default_rng(0))
