"""The tutorials run end to end, in quick mode, on the current backend.

Each tutorial runs in a subprocess with the same `KERAS_BACKEND`, so this
checks the real script (and that it trains) rather than a copy of its code.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "tutorials" / "quickstart.py"

# Quick-mode held-out token accuracy of the attention model, measured with
# seeds 0-3 on all three backends: 0.998 to 1.000. Chance is 1/16; with a
# broken attention layer (uniform weights) the model gets 0.21, and with the
# positional encoding switched off 0.83, so the floor catches both.
FLOOR = 0.9
# The no-attention baseline stayed at 0.21-0.25 on every backend and seed.
MARGIN = 0.5
TIMEOUT_S = 600


def run_quick(script, tmp_path):
    env = dict(os.environ)
    env.update(
        KERAS_BACKEND=keras.backend.backend(),
        KERAS_ATTENTION_QUICK="1",
        KERAS_ATTENTION_FIGURE=str(tmp_path / "attention.png"),
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p),
    )
    # Small models train much faster single-threaded when other processes
    # (pytest-xdist workers, other jobs) share the CPU: oversubscribed OpenMP
    # threads slowed PyTorch down by more than 10x.
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        proc = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{script.name} did not finish in {TIMEOUT_S}s:\n{error.stdout}")
    log = f"stdout:\n{proc.stdout}\nstderr (tail):\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, f"{script.name} failed:\n{log}"
    return proc.stdout, log


def parse_result(stdout):
    lines = stdout.strip().splitlines()
    match = re.fullmatch(r"RESULT (\w+)=([0-9.eE+-]+)", lines[-1].strip())
    assert match, f"last line is not `RESULT name=value`: {lines[-1]!r}"
    return match.group(1), float(match.group(2))


def table_row(stdout, name):
    """The numbers of the first printed table row that starts with `name`.

    A row is the name, then numbers only (commas as thousands separators, an
    `s` after seconds, `nan` for a metric that could not be computed).
    """
    number = r"(?:[\d,]+(?:\.\d+)?|nan)s?"
    pattern = rf"^{re.escape(name)}((?:\s+{number})+)\s*$"
    match = re.search(pattern, stdout, flags=re.MULTILINE)
    assert match, f"no results row for {name!r}"
    return [float(x.rstrip("s").replace(",", "")) for x in match.group(1).split()]


def quick_result(script, tmp_path, expected_name, floor, label):
    """Run `script` in quick mode; check its `RESULT` line against `floor`.

    Returns the result, the stdout and the log (for assertion messages).
    """
    stdout, log = run_quick(script, tmp_path)
    name, value = parse_result(stdout)
    assert name == expected_name
    assert value > floor, f"{label} {value} <= {floor}\n{log}"
    return value, stdout, log


def assert_figures(tmp_path, log, *names):
    """The figures were written (with matplotlib), none into the repository."""
    if importlib.util.find_spec("matplotlib") is not None:
        for name in names:
            assert (tmp_path / name).is_file(), log
    assert not list(ROOT.joinpath("tutorials").glob("*.png"))


def test_quickstart_quick_mode(tmp_path):
    accuracy, stdout, log = quick_result(
        QUICKSTART, tmp_path, "heldout_token_accuracy", FLOOR, "held-out token accuracy"
    )

    # Rows: parameters, token accuracy, exact match, seconds.
    assert table_row(stdout, "attention")[1] == pytest.approx(accuracy, abs=1e-3)
    baseline = table_row(stdout, "no attention")[1]
    assert accuracy > baseline + MARGIN, (
        f"attention ({accuracy}) does not beat the baseline ({baseline}) by "
        f"{MARGIN}\n{log}"
    )

    assert_figures(tmp_path, log, "attention.png")


TRANSLATION_TRANSFORMER = ROOT / "tutorials" / "translation_transformer.py"
# Quick-mode held-out exact match of greedy decoding (a list of 1-6 numbers
# counts only if every German word is right), measured with seeds 0-2 on all
# three backends: JAX 0.972-0.984, PyTorch 0.978-0.990, TensorFlow
# 0.946-0.970 (beam search 0.948-0.990). Lists of six numbers are the weak
# spot (0.79-0.96), so the floor leaves room for a seed or a backend that
# lands lower. Without positional encodings the same model got 0.07, and a
# model that cannot read the source (broken cross-attention or masks) gets
# next to nothing right.
TRANSFORMER_FLOOR = 0.85


def test_translation_transformer_quick_mode(tmp_path):
    exact, stdout, log = quick_result(
        TRANSLATION_TRANSFORMER,
        tmp_path,
        "heldout_exact_match",
        TRANSFORMER_FLOOR,
        "held-out exact match",
    )

    # Decoding rows: exact match, BLEU, seconds.
    greedy_exact, greedy_bleu, _ = table_row(stdout, "greedy")
    assert greedy_exact == pytest.approx(exact, abs=1e-3)
    beam_exact, beam_bleu, _ = table_row(stdout, "beam, k=4")
    assert beam_exact > TRANSFORMER_FLOOR, f"beam search: {beam_exact}\n{log}"
    if importlib.util.find_spec("sacrebleu") is not None:
        # Measured 97.6 to 99.7; mismatched references would score near 0.
        assert min(greedy_bleu, beam_bleu) > 90, log

    assert_figures(tmp_path, log, "attention.png")


TRANSLATION_RNN = ROOT / "tutorials" / "translation_rnn.py"
# Quick-mode held-out exact match of the main attention model (Luong
# "general"), greedy decoding, measured with seeds 0-2 on all three backends:
# JAX 0.956-0.994, PyTorch 0.974-0.992, TensorFlow 0.988-1.000 (BLEU
# 98.2-100). The same encoder-decoder without attention got 0.000-0.080 (BLEU
# 3-14): with equal training, a decoder that cannot look at the source stays
# near zero, so the floor and the margin catch an attention layer, a decoder
# step or a source mask that does not work.
RNN_FLOOR = 0.85
# Measured gap between attention and no attention: 0.91 to 0.99.
RNN_MARGIN = 0.6


def test_translation_rnn_quick_mode(tmp_path):
    exact, stdout, log = quick_result(
        TRANSLATION_RNN,
        tmp_path,
        "heldout_exact_match",
        RNN_FLOOR,
        "held-out exact match",
    )

    # Results rows: parameters, epochs, exact match, BLEU, exact match on the
    # longest sources, training and decoding seconds.
    _, _, main_exact, main_bleu, *_ = table_row(stdout, "general")
    assert main_exact == pytest.approx(exact, abs=1e-3)
    baseline_exact = table_row(stdout, "no attention")[2]
    assert exact > baseline_exact + RNN_MARGIN, (
        f"attention ({exact}) does not beat no attention ({baseline_exact}) by "
        f"{RNN_MARGIN}\n{log}"
    )
    if importlib.util.find_spec("sacrebleu") is not None:
        assert main_bleu > 90, log

    assert_figures(tmp_path, log, "attention.png", "attention_length.png")


TEXT_GENERATION = ROOT / "tutorials" / "text_generation.py"
# Quick-mode continuation accuracy of greedy decoding (the share of the 300
# numbers written after 100 held-out prompts that are exactly the right next
# numbers), measured with seeds 0-2: JAX 0.973-1.000, PyTorch 0.963-0.990,
# TensorFlow 0.973 (seed 0). The floor leaves room for a backend or a seed
# that lands lower; a model whose cache, causal mask or positions are broken
# does not count.
GENERATION_FLOOR = 0.8


def test_text_generation_quick_mode(tmp_path):
    accuracy, stdout, log = quick_result(
        TEXT_GENERATION,
        tmp_path,
        "continuation_accuracy",
        GENERATION_FLOOR,
        "continuation accuracy",
    )
    assert table_row(stdout, "continuation accuracy")[0] == pytest.approx(
        accuracy, abs=1e-3
    )
    # The key/value cache gives the tokens of recomputing the whole prefix.
    assert "cached and recomputed generation give the same tokens: True" in stdout, log
    for row in ("greedy, cached", "greedy, recomputed", "recomputed / cached"):
        assert table_row(stdout, row)[0] > 0, log

    assert_figures(tmp_path, log, "attention.png")


CHAR_LM = ROOT / "tutorials" / "char_lm.py"
# Quick-mode validation bits per character on the held-out pydoc text, seed
# 0: rotary 2.13 (JAX; 2.18 with seed 1), 2.12 (TensorFlow), 2.15 (PyTorch);
# sinusoidal 2.59 (JAX), 2.64 (TensorFlow), 2.60 (PyTorch); learned 2.66
# (JAX), 3.00 (TensorFlow), 2.70 (PyTorch); the
# unigram model 4.72; the same model without any positions 3.21 (JAX, seed
# 1). Lower is better, so the test checks both sides: a model that can read
# the character it predicts (a causal mask broken in training and scoring
# alike) scores far below one bit, and the rotary model's ceiling lies well
# between its results and the position-less model's, so broken positions in
# attention fail too. The sinusoidal ceiling is as tight; learned positions
# vary too much between backends in a run this short (2.66-3.00, close to
# 3.21) for a ceiling that would catch a table that is ignored, so their
# ceiling only checks that the model trains.
CHAR_LM_LEAK_FLOOR = 1.0
CHAR_LM_CEILING = 2.9
CHAR_LM_LEARNED_CEILING = 3.5


def test_char_lm_quick_mode(tmp_path):
    bits, stdout, log = quick_result(
        CHAR_LM,
        tmp_path,
        "validation_bits_per_char",
        CHAR_LM_LEAK_FLOOR,
        "validation bits/char (a causal leak scores below the floor)",
    )
    assert bits < CHAR_LM_CEILING, f"validation bits/char {bits}\n{log}"
    assert table_row(stdout, "bits/char, rotary")[0] == pytest.approx(bits, abs=1e-3)
    for scheme, ceiling in (
        ("sinusoidal", CHAR_LM_CEILING),
        ("learned", CHAR_LM_LEARNED_CEILING),
    ):
        value = table_row(stdout, f"bits/char, {scheme}")[0]
        assert CHAR_LM_LEAK_FLOOR < value < ceiling, f"{scheme}: {value}\n{log}"
    assert table_row(stdout, "bits/char, unigram")[0] > CHAR_LM_CEILING, log
    # The key/value cache writes the tokens of recomputing the whole prefix,
    # and, warmed up, it is faster: measured 10-23x compiled on JAX, 15x on
    # TensorFlow, 2x on eager PyTorch, all under heavy load.
    assert "cached and recomputed generation give the same tokens: True" in stdout, log
    assert table_row(stdout, "recomputed / cached")[0] > 1, log

    assert_figures(tmp_path, log, "attention.png")
