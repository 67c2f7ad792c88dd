"""The fixed tuning / held-out split of the procedural prompt space (lift3d.data.splits)."""

from __future__ import annotations

import pytest

from lift3d.data import FAMILIES, FAMILY_WORDS, LEGACY_PROMPTS, parse_caption, prompt_split, split_prompts
from lift3d.data.palette import COLOURS
from lift3d.data.splits import BENCHMARK_FAMILIES, HELDOUT_TEMPLATES, TUNING_TEMPLATES


def test_split_sizes_and_legacy_prompts_are_unchanged() -> None:
    assert split_prompts("legacy") == list(LEGACY_PROMPTS)
    assert LEGACY_PROMPTS == ("a red cube", "a blue sphere", "a green cone", "a yellow torus", "a purple cylinder",
                              "an orange pyramid", "a white capsule", "a pink octahedron", "a blue mushroom",
                              "a red table")
    assert split_prompts("tuning")[:10] == list(LEGACY_PROMPTS)
    assert len(prompt_split("tuning")) == 20 and len(prompt_split("heldout")) >= 10
    with pytest.raises(ValueError, match="unknown prompt split"):
        prompt_split("test")  # type: ignore[arg-type]


def test_split_is_deterministic() -> None:
    for name in ("tuning", "heldout", "legacy"):
        assert prompt_split(name) == prompt_split(name)  # type: ignore[arg-type]
    # pinned, so that a change of the tables is a visible, deliberate change of the benchmark
    assert split_prompts("heldout")[:4] == ["a box that is cobalt", "a matte lilac orb",
                                            "one magenta traffic cone shape", "a ring that is wooden"]


def test_split_is_disjoint_in_prompts_combinations_and_words() -> None:
    tuning, heldout = prompt_split("tuning"), prompt_split("heldout")
    assert not {p.text for p in tuning} & {p.text for p in heldout}
    assert not {(p.family, p.colour) for p in tuning} & {(p.family, p.colour) for p in heldout}
    assert not {p.colour_word for p in tuning} & {p.colour_word for p in heldout}
    assert not {p.family_word for p in tuning} & {p.family_word for p in heldout}
    assert {p.template for p in tuning} <= set(TUNING_TEMPLATES)
    assert {p.template for p in heldout} == set(HELDOUT_TEMPLATES)
    assert not set(TUNING_TEMPLATES) & set(HELDOUT_TEMPLATES)


def test_held_out_covers_every_benchmark_family_and_colour() -> None:
    heldout = prompt_split("heldout")
    assert {p.family for p in heldout} == set(BENCHMARK_FAMILIES) == {p.family for p in prompt_split("legacy")}
    assert {p.colour for p in heldout} == set(COLOURS)
    assert set(BENCHMARK_FAMILIES) <= set(FAMILIES)


def test_ground_truth_labels_match_the_text() -> None:
    for name in ("tuning", "heldout"):
        for p in prompt_split(name):  # type: ignore[arg-type]
            assert parse_caption(p.text) == (p.family, p.colour), p.text
            assert p.family_word in FAMILY_WORDS[p.family] and p.family_word in p.text
            assert p.colour_word in (p.colour, *COLOURS[p.colour].synonyms) and p.colour_word in p.text
            assert p.size is None


def test_every_prompt_encodes_with_the_bundled_tokenizer() -> None:
    from lift3d.priors.bundled import BUNDLED_PRIOR_DIR, build_tokenizer, caption_vocabulary

    vocabulary = set(caption_vocabulary())
    tokenizers = [build_tokenizer(caption_vocabulary())]
    if (BUNDLED_PRIOR_DIR / "tokenizer").is_dir():
        from transformers import CLIPTokenizer

        tokenizers.append(CLIPTokenizer.from_pretrained(BUNDLED_PRIOR_DIR / "tokenizer"))  # the shipped one
    for name in ("tuning", "heldout"):
        for text in split_prompts(name):  # type: ignore[arg-type]
            assert set(text.split()) <= vocabulary, text
            for tok in tokenizers:
                ids = tok(text, add_special_tokens=False).input_ids
                assert all(t in tok.get_vocab() for t in tok.tokenize(text)), text  # no unknown token
                assert tok.unk_token_id not in ids, text  # (the unknown token is <|endoftext|>)
                words = [w for w in text.split() if w.isalpha()]
                assert all(len(tok(w, add_special_tokens=False).input_ids) == 1 for w in words), text
                assert len(ids) + 2 <= tok.model_max_length, text
