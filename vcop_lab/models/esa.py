"""E-SA, extended soft attention for video question answering (the paper's Table VI).

The question's words are embedded (GloVe) and read by an LSTM; its last hidden state ``q``
guides a soft attention over the clip features ``v_1..v_T`` of the video:

    e_i = w^T tanh(W_v v_i + W_q q),   a = softmax(e) over the T clips,   v = sum_i a_i v_i

The question and the attended video are projected to a common size and fused (their
elementwise product, concatenated with both), and a classifier picks one of the answers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class WordEmbedding(nn.Module):
    """Embeddings whose GloVe rows stay fixed (default) or are fine-tuned, while the rows of
    words GloVe lacks are always trained."""

    def __init__(
        self,
        matrix: torch.Tensor,
        from_glove: torch.Tensor | None = None,
        finetune_glove: bool = False,
        padding_idx: int = 0,
    ):
        super().__init__()
        self.padding_idx = padding_idx
        self.weight = nn.Parameter(matrix.detach().clone().float())
        if from_glove is None:
            from_glove = torch.zeros(matrix.shape[0], dtype=torch.bool)
        self.register_buffer("from_glove", from_glove.detach().clone().bool())
        self.finetune_glove = finetune_glove
        # Frozen rows are read from a buffer, so no optimiser (weight decay included) moves them.
        fixed = matrix.detach().clone().float() if not finetune_glove else torch.empty(0)
        self.register_buffer("fixed", fixed)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out = F.embedding(tokens, self.weight, padding_idx=self.padding_idx)
        if not self.finetune_glove:
            keep = self.from_glove[tokens].unsqueeze(-1)
            out = torch.where(keep, F.embedding(tokens, self.fixed), out)
        return out


class ESA(nn.Module):
    """Question-guided soft attention over clip features -> answer logits.

    Args:
        vocab_size: question words, including ``<pad>`` (index ``padding_idx``) and ``<unk>``.
        num_answers: size of the answer vocabulary.
        video_dim: size D of one clip feature (512 for the paper's backbones).
        embed_dim: word vector size; taken from ``embeddings`` when given.
        hidden: LSTM size, also the attention and fusion size (300 in the paper).
        embeddings: initial word vectors (vocab_size, embed_dim), e.g. from
            :func:`vcop_lab.qa.glove.embedding_matrix`; random when ``None``.
        from_glove: which rows of ``embeddings`` came from GloVe (kept fixed unless
            ``finetune_glove``); the other rows are trained.
        dropout: on the word embeddings and before the classifier.
    """

    def __init__(
        self,
        vocab_size: int,
        num_answers: int,
        *,
        video_dim: int = 512,
        embed_dim: int = 300,
        hidden: int = 300,
        embeddings: torch.Tensor | None = None,
        from_glove: torch.Tensor | None = None,
        finetune_glove: bool = False,
        dropout: float = 0.3,
        padding_idx: int = 0,
    ):
        super().__init__()
        if embeddings is None:
            embeddings = torch.randn(vocab_size, embed_dim) * 0.3
            embeddings[padding_idx] = 0.0
        if embeddings.shape[0] != vocab_size:
            raise ValueError(f"embeddings have {embeddings.shape[0]} rows, vocab {vocab_size}")
        embed_dim = embeddings.shape[1]
        self.config = dict(
            vocab_size=vocab_size,
            num_answers=num_answers,
            video_dim=video_dim,
            embed_dim=embed_dim,
            hidden=hidden,
            finetune_glove=finetune_glove,
            dropout=dropout,
            padding_idx=padding_idx,
        )
        self.embed = WordEmbedding(embeddings, from_glove, finetune_glove, padding_idx)
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True)
        # Features of different backbones differ in scale; normalising each clip feature keeps
        # one learning rate good for all of them.
        self.video_norm = nn.LayerNorm(video_dim)
        self.att_video = nn.Linear(video_dim, hidden)
        self.att_question = nn.Linear(hidden, hidden, bias=False)
        self.att_score = nn.Linear(hidden, 1, bias=False)
        self.proj_video = nn.Linear(video_dim, hidden)
        self.proj_question = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Sequential(
            nn.Linear(3 * hidden, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_answers),
        )

    def encode_question(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(N, L) padded token ids + (N,) lengths -> (N, hidden), the LSTM's last state."""
        words = self.dropout(self.embed(tokens))
        # Packing makes the LSTM stop at each question's own end, so padding changes nothing.
        packed = pack_padded_sequence(words, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        return h[-1]

    def attend(self, video: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, T, D) clip features and (N, hidden) question -> (attended (N, D), weights (N, T))."""
        scores = self.att_score(
            torch.tanh(self.att_video(video) + self.att_question(q).unsqueeze(1))
        ).squeeze(-1)
        weights = scores.softmax(dim=1)
        return torch.bmm(weights.unsqueeze(1), video).squeeze(1), weights

    def forward(
        self,
        video_feats: torch.Tensor,
        question_tokens: torch.Tensor,
        question_lengths: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (answer logits (N, num_answers), attention weights (N, num_clips))."""
        if video_feats.dim() != 3 or video_feats.shape[-1] != self.config["video_dim"]:
            raise ValueError(
                f"video features must be (N, clips, {self.config['video_dim']}), "
                f"got {tuple(video_feats.shape)}"
            )
        q = self.encode_question(question_tokens, question_lengths)
        video = self.video_norm(video_feats)
        attended, weights = self.attend(video, q)
        pq = torch.tanh(self.proj_question(q))
        pv = torch.tanh(self.proj_video(attended))
        fused = self.dropout(torch.cat([pq * pv, pq, pv], dim=1))
        return self.classifier(fused), weights
