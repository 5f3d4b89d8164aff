"""Speech synthesised offline with espeak-ng, resampled to a WaveNet's rate (8 kHz by default).

espeak-ng (the Debian package ``espeak-ng``; ``make espeak`` installs it where apt works) is a
formant synthesiser: the same text, voice, speed and pitch give the same waveform bit for bit,
so a corpus made here is reproducible without any download. :func:`speech_corpus` speaks a
fixed list of sentences (written for this module) with one voice at a few speeds and pitches
drawn from a seed, resamples each utterance from espeak-ng's 22,050 Hz with a polyphase filter
(``scipy.signal.resample_poly``) and joins them with short pauses. Where espeak-ng is missing,
every function here raises :class:`EspeakMissing` with the way to install it.

Examples:
    >>> available = espeak_available()  # True where the espeak-ng command runs
    >>> isinstance(available, bool)
    True
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from atrous.errors import AtrousError, SpecError
from atrous.geometry.spec import check_int

__all__ = ["SENTENCES", "EspeakMissing", "SpeechCorpus", "espeak_available", "espeak_version", "speak", "speech_corpus"]

SENTENCES = (
    "The lighthouse keeper counted every wave that broke against the rocks.",
    "A quiet river carries small stones further than you would think.",
    "Seven orange boats were tied along the wooden pier at dawn.",
    "She painted the old fence green before the rain arrived.",
    "Bright lanterns swung above the market as the evening grew cold.",
    "The baker opens his shop at five and sells out by nine.",
    "Two owls argued softly in the pine tree behind the barn.",
    "Please hand me the blue folder on the second shelf.",
    "The train was late, so we walked along the frozen canal.",
    "Every morning the farmer checks the fences and feeds the geese.",
    "A heavy book fell from the table and woke the sleeping cat.",
    "The children built a tall tower out of empty paper cups.",
    "Thunder rolled over the hills long after the lightning faded.",
    "He tuned the violin twice before the concert began.",
    "Fresh snow covered the garden and hid the narrow path.",
    "The museum keeps a map drawn by a sailor three hundred years ago.",
    "We planted tomatoes, beans and a row of yellow flowers.",
    "Her bicycle bell rang out at the corner of the busy street.",
    "The engineer measured the bridge with a long steel tape.",
    "Warm bread and honey waited on the kitchen table.",
    "A gentle wind pushed the kite higher above the dunes.",
    "The library closes early on the first Monday of the month.",
    "Grey clouds gathered slowly over the harbour town.",
    "My neighbour repairs clocks in a small room full of ticking.",
    "The fox crossed the field and vanished into the tall grass.",
    "Nine students waited patiently for the results of the race.",
    "The captain wrote the weather in his log every hour.",
    "Rain tapped on the window while the kettle began to sing.",
    "A curious goat climbed onto the roof of the old shed.",
    "The orchestra played the final chord and the hall fell silent.",
    "Dry leaves drifted across the square in the autumn light.",
    "The postman whistled a tune as he sorted the letters.",
)
"""The corpus: 32 sentences (the last ``test_sentences`` of them are held out by default)."""

ESPEAK_RATE = 22050
"""The sampling rate of espeak-ng's output (Hz)."""


class EspeakMissing(AtrousError, RuntimeError):
    """espeak-ng is not installed (or does not run) here."""


def espeak_available() -> bool:
    """Whether the ``espeak-ng`` command is on the PATH and runs."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        return False
    try:
        done = subprocess.run([exe, "--version"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def espeak_version() -> str:
    """The first line of ``espeak-ng --version``."""
    exe = _exe()
    done = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30, check=False)
    line = done.stdout.strip().splitlines()[0] if done.stdout.strip() else "espeak-ng (version unknown)"
    return line.split("  Data at")[0].strip()  # without the data folder of this machine


def _exe() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise EspeakMissing(
            "espeak-ng is not installed: `make espeak` installs it where apt works "
            "(or `apt-get install espeak-ng`; it is the Debian package espeak-ng)"
        )
    return exe


def speak(text: str, *, rate: int = 8000, voice: str = "en-us", speed: int = 160, pitch: int = 50) -> np.ndarray:
    """One utterance: espeak-ng's waveform of ``text`` resampled to ``rate``, float32 in ``[-1, 1]``.

    Args:
        text: what to say (not empty).
        rate: output sampling rate in Hz (1000 .. 22050); 22050 returns espeak-ng's samples unchanged.
        voice: an espeak-ng voice (``espeak-ng --voices`` lists them).
        speed: words per minute (80 .. 450, espeak-ng's range).
        pitch: 0 .. 99 (espeak-ng's default 50).

    Raises:
        EspeakMissing: espeak-ng is not installed.
        SpecError: a bad argument, or espeak-ng rejected the voice.
    """
    from scipy.io import wavfile
    from scipy.signal import resample_poly

    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"text must be a non-empty string, got {text!r}")
    rate = check_int("rate", rate, 1000, ESPEAK_RATE)
    speed = check_int("speed", speed, 80, 450)
    pitch = check_int("pitch", pitch, 0, 99)
    exe = _exe()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.wav"
        cmd = [exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(path), text]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0 or not path.is_file() or path.stat().st_size <= 44:
            raise SpecError(f"espeak-ng failed for voice {voice!r}: {done.stderr.strip() or 'no audio written'}")
        sr, data = wavfile.read(path)
    x = data.astype(np.float64) / 32768.0
    if x.ndim > 1:
        x = x.mean(axis=1)
    if sr != rate:
        ratio = Fraction(rate, sr)
        x = resample_poly(x, ratio.numerator, ratio.denominator)
    out: np.ndarray = np.clip(x, -1.0, 1.0).astype(np.float32)
    return out


@dataclass(frozen=True)
class SpeechCorpus:
    """Training and test audio, and how they were made.

    Attributes:
        train: float32 waveform, every training utterance joined with pauses.
        test: float32 waveform of the held-out sentences.
        rate: sampling rate (Hz).
        train_texts, test_texts: the sentences, in order.
        settings: ``(speed, pitch)`` of each utterance, training ones first.
        version: ``espeak-ng --version``.
    """

    train: np.ndarray
    test: np.ndarray
    rate: int
    train_texts: tuple[str, ...]
    test_texts: tuple[str, ...]
    settings: tuple[tuple[int, int], ...] = field(default=())
    version: str = ""

    @property
    def seconds(self) -> tuple[float, float]:
        """Durations of the training and test audio."""
        return len(self.train) / self.rate, len(self.test) / self.rate


def speech_corpus(
    seed: int,
    *,
    rate: int = 8000,
    sentences: Sequence[str] = SENTENCES,
    test_sentences: int = 4,
    voice: str = "en-us",
    speeds: Sequence[int] = (150, 165, 180),
    pitches: Sequence[int] = (40, 50, 60),
    pause: float = 0.15,
    peak: float = 0.9,
) -> SpeechCorpus:
    """The training / test corpus: each sentence spoken once, at a (speed, pitch) drawn from ``seed``.

    Args:
        seed: seed of the draw of speeds and pitches (>= 0).
        rate: sampling rate (Hz).
        sentences: the texts; the last ``test_sentences`` are the test set.
        test_sentences: how many are held out (>= 1, fewer than ``len(sentences)``).
        voice, speeds, pitches: espeak-ng settings (each utterance draws one speed and one pitch).
        pause: seconds of silence after each utterance (>= 0).
        peak: every utterance is scaled to this peak amplitude (in ``(0, 1]``).

    Raises:
        EspeakMissing: espeak-ng is not installed.
        SpecError: a bad argument.
    """
    seed = check_int("seed", seed, 0)
    texts = tuple(sentences)
    held = check_int("test_sentences", test_sentences, 1, max(1, len(texts) - 1))
    if len(texts) < 2:
        raise SpecError(f"sentences must hold at least 2 texts (training and test), got {len(texts)}")
    if not speeds or not pitches:
        raise SpecError("speeds and pitches must each list at least one value")
    if isinstance(pause, bool) or not isinstance(pause, (int, float)) or not 0 <= pause <= 10:
        raise SpecError(f"pause must be a number of seconds in [0, 10], got {pause!r}")
    if isinstance(peak, bool) or not isinstance(peak, (int, float)) or not 0 < peak <= 1:
        raise SpecError(f"peak must be a number in (0, 1], got {peak!r}")
    rng = np.random.default_rng(seed)
    gap = np.zeros(round(pause * rate), dtype=np.float32)
    settings = []
    parts: list[list[np.ndarray]] = [[], []]
    for i, text in enumerate(texts):
        speed = int(speeds[int(rng.integers(len(speeds)))])
        pitch = int(pitches[int(rng.integers(len(pitches)))])
        settings.append((speed, pitch))
        x = speak(text, rate=rate, voice=voice, speed=speed, pitch=pitch)
        top = float(np.abs(x).max())
        if top > 0:
            x = (x * (peak / top)).astype(np.float32)
        parts[int(i >= len(texts) - held)] += [x, gap]
    return SpeechCorpus(
        train=np.concatenate(parts[0]),
        test=np.concatenate(parts[1]),
        rate=rate,
        train_texts=texts[: len(texts) - held],
        test_texts=texts[len(texts) - held :],
        settings=tuple(settings),
        version=espeak_version(),
    )
