"""The CLIP tokenizer the tiny models are written with, made from code."""

from __future__ import annotations

from devtools.tiny import build_clip_vocab, write_clip_tokenizer


def test_clip_tokenizer_written_from_code_loads_and_tokenizes(tmp_path):
    from transformers import CLIPTokenizer

    size = write_clip_tokenizer(tmp_path)
    tokenizer = CLIPTokenizer.from_pretrained(str(tmp_path))
    assert len(tokenizer) == size
    ids = tokenizer("a fox in the snow")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == "a fox in the snow"
    # Merges learned from the built-in text make common words single tokens.
    assert len(tokenizer.tokenize("the snow")) <= 3
    vocab, merges = build_clip_vocab()
    assert "<|endoftext|>" in vocab and len(merges) > 50
