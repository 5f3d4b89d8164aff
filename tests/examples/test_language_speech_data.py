"""The generators of atrous.datasets.language (long-distance agreement) and atrous.datasets.speech."""

import shutil

import numpy as np
import pytest
import torch

from atrous.datasets import language as L
from atrous.datasets import speech as S
from atrous.errors import SpecError

# --------------------------------------------------------------------------- agreement


def test_agreement_layout_row_by_row():
    data = L.agreement(300, 97, seed=4, attractors=5)
    x = data.tokens
    assert x.shape == (300, 97) and x.dtype == torch.int64
    assert (x[:, -1] == L.QUERY).all() and (x[:, :-1] != L.QUERY).all()
    assert int(x.min()) >= 0 and int(x.max()) == L.VOCAB_SIZE - 1 == 48
    for i in range(300):
        row = x[i].tolist()
        nominative = [t for t, v in enumerate(row) if L.NOMINATIVE <= v < L.OBLIQUE]
        oblique = [t for t, v in enumerate(row) if L.OBLIQUE <= v < L.QUERY]
        assert nominative == [int(data.subject[i])]  # exactly one subject, where it is said to be
        assert len(oblique) == 5  # the attractors, none lost to a collision
        numbers = sorted(int(row[t] >= L.OBLIQUE + L.NOUNS) for t in oblique)
        assert numbers == sorted(data.attractor_numbers[i].tolist())
        assert int(data.number[i]) == int(row[nominative[0]] >= L.NOMINATIVE + L.NOUNS)
        # the subject stands in the first quarter: at least 3/4 of the sequence before the query
        assert data.subject[i] < int(0.25 * 96) and data.distance[i] == 96 - data.subject[i]


def test_agreement_subject_range():
    near = L.agreement(2000, 101, seed=2, subject_span=(0.75, 1.0))
    assert int(near.subject.min()) == 75 and int(near.subject.max()) == 99  # [75, 100): never the query
    assert set(near.distance.tolist()) == set(range(1, 26))
    one = L.agreement(50, 9, seed=0, subject_span=(0.5, 0.55))  # narrower than a position: one position wide
    assert set(one.subject.tolist()) == {4}


def test_agreement_balance_and_seeds():
    data = L.agreement(20_000, 64, seed=0)
    assert abs(data.number.float().mean().item() - 0.5) < 0.015
    assert abs(data.attractor_numbers.float().mean().item() - 0.5) < 0.015
    a, b = L.agreement(8, 64, seed=3), L.agreement(8, 64, seed=3)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.number, b.number)
    assert not torch.equal(a.tokens, L.agreement(8, 64, seed=4).tokens)


def test_majority_accuracy_against_a_count():
    data = L.agreement(4000, 256, seed=1)  # 8 attractors: the subject is one vote of 9
    votes = data.number + data.attractor_numbers.sum(1)
    expected = float(((2 * votes > 9).long() == data.number).float().mean())
    assert L.majority_accuracy(data) == pytest.approx(expected)
    # P(the other 8 votes are not 5+ against the subject) = 1 - P(Bin(8, 1/2) >= 5) = 163/256
    assert abs(expected - 163 / 256) < 0.025


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 0, "length": 10, "seed": 0}, r"^n must be an integer >= 1, got 0"),
        ({"n": 2, "length": 3, "seed": 0}, r"^length must be an integer >= 4, got 3"),
        ({"n": 2, "length": 10, "seed": -1}, r"^seed must be an integer >= 0, got -1"),
        ({"n": 2, "length": 10, "seed": 0, "attractors": 9}, r"^attractors must be an integer in \[0, 8\], got 9"),
        (
            {"n": 2, "length": 10, "seed": 0, "subject_span": 0},
            r"^subject_span must be a number in \(0, 1\] .*, got 0$",
        ),
        ({"n": 2, "length": 10, "seed": 0, "subject_span": 1.5}, r"^subject_span must be a number in \(0, 1\]"),
        ({"n": 2, "length": 10, "seed": 0, "subject_span": (0.5, 0.5)}, r"or a pair \(lo, hi\) with 0 <= lo < hi"),
    ],
)
def test_agreement_bad_arguments(kwargs, match):
    with pytest.raises(SpecError, match=match):
        L.agreement(**kwargs)


# --------------------------------------------------------------------------- speech

needs_espeak = pytest.mark.skipif(not S.espeak_available(), reason="espeak-ng is not installed (make espeak)")


def test_missing_espeak_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert S.espeak_available() is False
    with pytest.raises(S.EspeakMissing, match=r"espeak-ng is not installed: `make espeak`"):
        S.speak("hello")


def test_speak_bad_arguments():
    with pytest.raises(SpecError, match="text must be a non-empty string"):
        S.speak("  ")
    with pytest.raises(SpecError, match=r"^rate must be an integer in \[1000, 22050\], got 44100"):
        S.speak("hi", rate=44100)
    with pytest.raises(SpecError, match=r"^pitch must be an integer in \[0, 99\], got 100"):
        S.speak("hi", pitch=100)


@needs_espeak
def test_speak_resamples_espeaks_output():
    from scipy.signal import resample_poly

    x8 = S.speak("A short test.", rate=8000)
    x22 = S.speak("A short test.", rate=22050)
    assert x8.dtype == np.float32 and np.abs(x8).max() <= 1.0 and np.abs(x8).max() > 0.05
    # the same utterance as espeak-ng writes it, resampled by 160/441 independently here
    assert abs(len(x8) - len(x22) * 8000 / 22050) <= 1
    ref = resample_poly(x22.astype(np.float64), 160, 441)
    assert np.allclose(x8, np.clip(ref, -1, 1), atol=1e-6)
    # deterministic: espeak-ng run twice gives the same samples
    assert np.array_equal(x8, S.speak("A short test.", rate=8000))


@needs_espeak
def test_speech_corpus_split_and_settings():
    c = S.speech_corpus(2, sentences=S.SENTENCES[:3], test_sentences=1, pause=0.1)
    assert c.rate == 8000 and c.train_texts == S.SENTENCES[:2] and c.test_texts == S.SENTENCES[2:3]
    assert len(c.settings) == 3 and all(sp in (150, 165, 180) and pi in (40, 50, 60) for sp, pi in c.settings)
    assert np.abs(c.train).max() == pytest.approx(0.9, abs=1e-6)  # every utterance scaled to the peak
    assert (c.train[-800:] == 0).all() and (c.test[-800:] == 0).all()  # each ends in its 0.1 s pause
    assert c.seconds[0] > c.seconds[1] > 0.5
    again = S.speech_corpus(2, sentences=S.SENTENCES[:3], test_sentences=1, pause=0.1)
    assert np.array_equal(c.train, again.train) and c.settings == again.settings


def test_speech_corpus_bad_arguments():
    with pytest.raises(SpecError, match=r"^test_sentences must be an integer in \[1, 2\], got 3"):
        S.speech_corpus(0, sentences=S.SENTENCES[:3], test_sentences=3)
    with pytest.raises(SpecError, match="pause must be a number of seconds"):
        S.speech_corpus(0, pause=-1)
    with pytest.raises(SpecError, match=r"peak must be a number in \(0, 1\]"):
        S.speech_corpus(0, peak=2)
